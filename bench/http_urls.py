"""The HTTP bench's URLs: the product's, plus two views the product never
has: a bare ``@login_required`` view (the floor a request costs: session,
user, middleware, response) and the floor a switch costs: its unavoidable
writes (the issue's "one UPDATE and one INSERT in a transaction")."""

from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST

from portal.urls import urlpatterns as product_urlpatterns


@login_required
def bare(request):
    return HttpResponse("ok", content_type="text/plain")


@login_required
@require_POST
def writes(request, profile_id: int):
    """The selection moved and the switch event written, in one transaction
    with a durable commit, as a switch must: no catalog, plan, target,
    converge or answer to render."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_selection SET profile_id = %s, since = now() WHERE user_id = %s",
            [profile_id, request.user.pk],
        )
        cursor.execute(
            "INSERT INTO profiles_switchevent (user_id, actor_id, source, source_detail, event, new_profile_id,"
            " old_name, new_name, prompt_values, target_version, created_at)"
            " VALUES (%s, %s, 'user', '', 'select', %s, '', '', '{}', 0, now())",
            [request.user.pk, request.user.pk, profile_id],
        )
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("bench/writes/<int:profile_id>/", writes, name="bench-writes"),
    *product_urlpatterns,
]
