"""Model rows as API bodies (plain dicts matching api.schemas)."""

from __future__ import annotations

from django.conf import settings

from profiles.models import PresenceProfile, Trigger


def user_name(user) -> str:
    return user.get_full_name() or user.username


def profile(p: PresenceProfile) -> dict:
    return {
        "id": p.pk,
        "name": p.name,
        "kind": "system" if p.kind == PresenceProfile.Kind.SYSTEM else "personal",
        "icon": p.icon,
        "colour": p.colour,
        "icon_visible": p.icon_visible,
        "sticky": p.sticky,
        "position": p.position,
        "editable": p.kind == PresenceProfile.Kind.PERSONAL,
    }


def action(a, description: str) -> dict:
    return {
        "id": a.pk,
        "profile_id": a.profile_id,
        "phase": a.phase,
        "position": a.position,
        "enabled": a.enabled,
        "type": a.type,
        "params": a.params,
        "description": description,
    }


def trigger(t: Trigger, problem: str = "") -> dict:
    return {
        "id": t.pk,
        "profile_id": t.profile_id,
        "profile_name": t.profile.name,
        "kind": t.kind,
        "enabled": t.enabled,
        "time_of_day": t.time_of_day.strftime("%H:%M") if t.time_of_day else None,
        "weekdays": t.weekday_names,
        "holiday_country": t.holiday_country,
        "holiday_subdivision": t.holiday_subdivision,
        "active_from": t.active_from,
        "active_until": t.active_until,
        "next_fire_at": t.next_fire_at,
        "problem": problem,
    }


def session(s) -> dict:
    return {
        "id": s.pk,
        "extension": s.extension.number,
        "client_id": s.client_id,
        "client_name": s.client_name,
        "client_version": s.client_version,
        "connected_at": s.connected_at,
        "last_heartbeat_at": s.last_heartbeat_at,
        "expires_at": s.expires_at,
        # Three heartbeats per window, so one lost request does not end it.
        "heartbeat_interval": max(1, settings.CLIENT_SESSION_WINDOW_SECONDS // 3),
    }


def line(extension) -> dict | None:
    """The line state of ``extension`` (its ``line`` loaded with it), or None."""
    state = getattr(extension, "line", None) if extension is not None else None
    if state is None:
        return None
    return {"state": state.state, "label": str(state.get_state_display()), "changed_at": state.changed_at}
