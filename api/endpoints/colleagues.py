"""Colleagues' presence and line state (idle, ringing, on a call, on hold,
unavailable), paginated, with search and team filter; clients poll it
cheaply with If-None-Match (304 while nothing changed, line states
included). The rows come from the board's selector: one query per page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Field as NinjaField
from ninja import Query, Router, Status

from api import present
from api.endpoints.common import ERRORS, QueryInt, paginate
from api.schemas import ColleaguesOut, In
from profiles import selectors

router = Router(tags=["colleagues"])
PAGE_SIZE = 100


class ColleagueFilter(In):
    q: str = NinjaField("", max_length=100, description="Search names, extension numbers and status.")
    team: QueryInt | None = NinjaField(None, ge=1, le=2**62, description="Only members of this team.")
    page: QueryInt = NinjaField(1, ge=1, le=2**31)


def _not_modified(request: HttpRequest, etag: str) -> bool:
    return etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]


@router.get(
    "/colleagues",
    response={200: ColleaguesOut, 304: None, **ERRORS},
    summary="Colleagues' presence (ETag: answer 304 to If-None-Match while nothing changed)",
)
def colleagues(request: HttpRequest, response: HttpResponse, filters: Query[ColleagueFilter]):
    search = filters.q.strip()
    etag = selectors.board_etag(search=search, team_id=filters.team, page=str(filters.page))
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    if _not_modified(request, etag):
        return Status(304, None)
    rows, page = paginate(selectors.board_queryset(search=search, team_id=filters.team), filters.page, PAGE_SIZE)
    results = []
    for selection in rows:
        account = getattr(selection.user, "account", None)
        primary = account.primary_extension if account else None
        profile = selection.profile
        results.append(
            {
                "user_id": selection.user_id,
                "name": present.user_name(selection.user),
                "extension": primary.number if primary else "",
                "profile": profile.name,
                "icon": profile.icon if profile.icon_visible else None,
                "colour": profile.colour,
                "since": selection.since,
                "line": present.line(primary),
            }
        )
    return {**page, "version": etag.strip('"'), "results": results}
