"""The HTTP bench's URLs: the product's, plus a bare ``@login_required``
view (the floor a request costs: session, user, middleware, response)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

from portal.urls import urlpatterns as product_urlpatterns


@login_required
def bare(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare, name="bench-bare"), *product_urlpatterns]
