"""The colleagues board: everyone's presence, searchable, filtered by team,
paginated, kept live by polling with an ETag (304 while nothing changed)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseNotModified

from devices.models import LineState
from profiles import selectors
from profiles.views.common import not_modified, page, with_account

PAGE_SIZE = 60


def _filters(request: HttpRequest) -> tuple[str, int | None, str]:
    search = request.GET.get("q", "").strip()[:100]
    team = request.GET.get("team", "")
    team_id = int(team) if team.isdigit() else None
    page_no = request.GET.get("page", "1")
    return search, team_id, page_no if page_no.isdigit() else "1"


@login_required
@with_account
@require_GET
def colleagues(request: HttpRequest) -> HttpResponse:
    search, team_id, page_no = _filters(request)
    # The fingerprint costs one aggregate query; a poll that already shows
    # this version is answered before anything is rendered.
    etag = selectors.board_etag(search=search, team_id=team_id, page=page_no)
    if request.htmx and not_modified(request, etag):
        return HttpResponseNotModified()
    paginator = Paginator(selectors.board_queryset(search=search, team_id=team_id), PAGE_SIZE)
    page_obj = paginator.get_page(page_no)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page_obj": page_obj,
        "rows": page_obj.object_list,
        "search": search,
        "team_id": team_id,
        "teams": selectors.all_teams(),
        "etag": etag,
        "query": query.urlencode(),
        "poll_url": request.get_full_path(),
        # What a live "line" event shows (templates the page's script clones).
        "line_states": [(state.value, state.label, LineState.ICONS[state]) for state in LineState.State],
    }
    response = page(request, "profiles/board.html", context, "board")
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response
