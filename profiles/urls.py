"""The user pages (all behind login); mounted at the site root."""

from django.urls import path

from profiles.views import board, editor, mine, presence, session_trigger, triggers

app_name = "profiles"

urlpatterns = [
    path("", presence.presence, name="presence"),
    path("presence/status/", presence.status, name="status"),
    path("presence/select/<int:profile_id>/", presence.select, name="select"),
    path("presence/preview/<int:profile_id>/", presence.preview, name="preview"),
    path("presence/reapply/", presence.reapply, name="reapply"),
    path("presence/time-zone/", presence.time_zone, name="time_zone"),
    path("profiles/", editor.profile_list, name="profiles"),
    path("profiles/new/", editor.profile_new, name="profile_new"),
    path("profiles/<int:profile_id>/", editor.profile_edit, name="profile_edit"),
    path("profiles/<int:profile_id>/delete/", editor.profile_delete, name="profile_delete"),
    path("profiles/<int:profile_id>/copy/", editor.profile_copy, name="profile_copy"),
    path("profiles/<int:profile_id>/move/", editor.profile_move, name="profile_move"),
    path("profiles/<int:profile_id>/actions/new/", editor.action_new, name="action_new"),
    path("actions/<int:action_id>/", editor.action_edit, name="action_edit"),
    path("actions/<int:action_id>/toggle/", editor.action_toggle, name="action_toggle"),
    path("actions/<int:action_id>/delete/", editor.action_delete, name="action_delete"),
    path("actions/<int:action_id>/move/", editor.action_move, name="action_move"),
    path("profiles/<int:profile_id>/triggers/", triggers.triggers, name="triggers"),
    path("profiles/<int:profile_id>/triggers/time/", triggers.time_trigger_new, name="time_trigger_new"),
    path("profiles/<int:profile_id>/triggers/meeting/", triggers.meeting_trigger_new, name="meeting_trigger_new"),
    path("triggers/<int:trigger_id>/", triggers.time_trigger_edit, name="trigger_edit"),
    path("triggers/<int:trigger_id>/toggle/", triggers.trigger_toggle, name="trigger_toggle"),
    path("triggers/<int:trigger_id>/delete/", triggers.trigger_delete, name="trigger_delete"),
    path("triggers/holiday-regions/", triggers.holiday_regions, name="holiday_regions"),
    path("profiles/<int:profile_id>/calendars/", triggers.calendar_new, name="calendar_new"),
    path("calendars/<int:calendar_id>/delete/", triggers.calendar_delete, name="calendar_delete"),
    path("colleagues/", board.colleagues, name="colleagues"),
    path("devices/", mine.devices, name="devices"),
    path("devices/session-trigger/", session_trigger.session_trigger, name="session_trigger"),
    path("devices/session-trigger/clear/", session_trigger.session_trigger_clear, name="session_trigger_clear"),
    path("history/", mine.history, name="history"),
]
