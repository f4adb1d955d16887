"""Client sessions: a desktop or mobile client connects to its softphone,
heartbeats, and disconnects (DESIGN rules 6 and 12)."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from api import present
from api.endpoints.common import ERRORS, or_404
from api.errors import ApiError
from api.schemas import ConnectIn, HeartbeatOut, SessionOut
from devices.models import ClientSession, Extension
from profiles import events
from profiles.models import Selection

router = Router(tags=["client sessions"])


def _softphone(user, number: str) -> Extension:
    """A softphone the user may connect to (their own or an unowned one)."""
    return Extension.objects.get(Q(owner=user) | Q(owner__isnull=True), number=number, kind=Extension.Kind.SOFTPHONE)


def _own_session(user, session_id: int) -> ClientSession:
    return ClientSession.objects.select_related("extension").get(pk=session_id, user=user)


@router.get("/sessions", response={200: list[SessionOut], **ERRORS}, summary="My connected clients")
def session_list(request: HttpRequest):
    sessions = ClientSession.objects.filter(user=request.user).select_related("extension").order_by("connected_at")
    return [present.session(s) for s in sessions]


@router.post(
    "/sessions",
    response={201: SessionOut, **ERRORS},
    summary="Connect a client to its softphone",
)
def connect(request: HttpRequest, payload: ConnectIn):
    """The softphone takes the selected profile. The same ``client_id``
    connecting again within the heartbeat window keeps its session; another
    client gets 409 while the session is alive."""
    extension = or_404(_softphone, request.user, payload.extension)
    session = events.connect_client(
        user=request.user,
        extension=extension,
        actor=request.user,
        source=Selection.Source.API,
        client=events.ClientInfo(client_id=payload.client_id, name=payload.client_name, version=payload.client_version),
    )
    session.extension = extension
    return Status(201, present.session(session))


@router.post(
    "/sessions/{session_id}/heartbeat",
    response={200: HeartbeatOut, **ERRORS},
    summary="Keep a client session alive",
)
def heartbeat(request: HttpRequest, session_id: int):
    """One indexed UPDATE. 404 once the session has ended or expired: the
    client connects again then."""
    expires = events.heartbeat(user=request.user, session_id=session_id)
    if expires is None:
        raise ApiError(404, "session_ended", _("This session has ended; connect again."))
    return {"expires_at": expires}


@router.delete("/sessions/{session_id}", response={204: None, **ERRORS}, summary="Disconnect a client")
def disconnect(request: HttpRequest, session_id: int):
    """The softphone loses the profile's changes; they stay on the primary."""
    session = or_404(_own_session, request.user, session_id)
    events.disconnect_client(
        user=request.user, extension=session.extension, actor=request.user, source=Selection.Source.API
    )
    return Status(204, None)
