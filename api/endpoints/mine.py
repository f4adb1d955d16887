"""My devices (actual state next to the profile's) and my history."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field as NinjaField
from ninja import Query, Router, Schema

from api import present
from api.endpoints.common import ERRORS, QueryInt, paginate
from api.schemas import ApplyRunPage, DevicesOut, SwitchEventPage
from profiles import selectors

router = Router(tags=["devices and history"])


class PageQuery(Schema):
    page: QueryInt = NinjaField(1, ge=1, le=2**31)


def _value(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@router.get("/devices", response={200: DevicesOut, **ERRORS}, summary="My devices: actual state and the profile's")
def devices(request: HttpRequest):
    view = selectors.my_devices(request.user, selectors.account_for(request.user))
    primary = view["primary"]
    return {
        "devices": [
            {
                "extension": d.extension.number,
                "name": d.extension.name,
                "role": "primary" if primary is not None and d.extension.pk == primary.pk else "softphone",
                "fields": [
                    {"field": r.label, "actual": _value(r.actual), "profile": _value(r.implied), "differs": r.differs}
                    for r in d.rows
                ],
            }
            for d in view["devices"]
        ],
        "destinations": [
            {
                "id": dest.pk,
                "family": dest.family,
                "number": dest.number,
                "active": actual.active if actual else None,
                "profile_active": implied.active if implied else None,
            }
            for dest, actual, implied in view["destination_rows"]
        ],
        "teams": [
            {
                "id": team.pk,
                "name": team.name,
                "logged_in": actual.logged_in if actual else None,
                "paused": actual.paused if actual else None,
                "pickup": actual.pickup if actual else None,
                "profile_logged_in": implied.logged_in if implied else None,
                "profile_paused": implied.paused if implied else None,
            }
            for team, actual, implied in view["team_rows"]
        ],
        "sessions": [present.session(s) for s in view["sessions"]],
        "read_error": view["read_error"],
    }


@router.get("/history/switches", response={200: SwitchEventPage, **ERRORS}, summary="My switches, newest first")
def switch_history(request: HttpRequest, query: Query[PageQuery]):
    rows, page = paginate(selectors.switch_events(request.user), query.page)
    return {
        **page,
        "results": [
            {
                "id": e.pk,
                "at": e.created_at,
                "event": e.event,
                "source": e.source,
                "detail": e.source_detail,
                "actor": present.user_name(e.actor) if e.actor else None,
                "old_profile": e.old_name,
                "new_profile": e.new_name,
                "target_version": e.target_version,
            }
            for e in rows
        ],
    }


@router.get("/history/applies", response={200: ApplyRunPage, **ERRORS}, summary="My apply runs with their steps")
def apply_history(request: HttpRequest, query: Query[PageQuery]):
    rows, page = paginate(selectors.apply_runs(request.user), query.page)
    return {
        **page,
        "results": [
            {
                "id": r.pk,
                "started_at": r.started_at,
                "reason": r.reason,
                "target_version": r.target_version,
                "result": r.result,
                "duration_ms": r.duration_ms,
                "error": r.error,
                "steps": [
                    {"extension": s.extension, "description": s.description, "ok": s.ok, "error": s.error}
                    for s in r.steps.all()
                ],
            }
            for r in rows
        ],
    }
