"""Admin for the telephony side: extensions and their destinations, teams,
locations, client sessions, and the read-only apply audit.

Each admin class is declarative; anything that changes state beyond plain
configuration rows belongs in a service, called from an admin action
(add them to the classes below as ``actions = [...]``).
"""

from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from devices import hooks, services
from devices.models import (
    ApplyRun,
    ApplyStep,
    ClientSession,
    Destination,
    Extension,
    LineState,
    ListenerStatus,
    Location,
    Mismatch,
    PbxEvent,
    SimulatedDevice,
    TargetState,
    Team,
)
from portal.errors import PortalError


class _ValidIdsOnly:
    """Django's autocomplete widget looks up the submitted ids to show them
    again with the form's errors; a non-numeric or huge id made that lookup
    raise (a 500). Ids the target field cannot hold are dropped from the
    redisplay; the form field itself reports them as an invalid choice."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        valid = []
        for item in value:
            try:
                python = target.to_python(item)
            except ValidationError:
                continue
            if isinstance(python, int) and not -(2**63) <= python < 2**63:
                continue
            valid.append(item)
        return super().optgroups(name, valid, attr)


class ValidAutocompleteSelect(_ValidIdsOnly, AutocompleteSelect):
    pass


class ValidAutocompleteSelectMultiple(_ValidIdsOnly, AutocompleteSelectMultiple):
    pass


class PortalModelAdmin(admin.ModelAdmin):
    """The portal's admin base: autocomplete fields that answer a bad id
    with a form error, not a server error."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = ValidAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = ValidAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReadOnlyAdmin(PortalModelAdmin):
    """Audit and runtime rows: written by the services only, so the admin
    may look (and delete, so users can still be deleted) but not add or change."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DestinationInline(admin.TabularInline):
    model = Destination
    extra = 0
    fields = ("position", "family", "number", "ring_delay", "ring_timeout")
    ordering = ("position", "id")


@admin.register(Extension)
class ExtensionAdmin(PortalModelAdmin):
    list_display = ("number", "name", "kind", "owner", "is_hot_desk", "hot_desk_logged_in")
    list_filter = ("kind", "is_hot_desk", "hot_desk_logged_in")
    search_fields = ("number", "name", "owner__username", "owner__first_name", "owner__last_name")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    # Logging a hot-desk user in or out is an event that re-applies the
    # profile (docs/rules.md#rule-7), so it is an admin action here, not a field edit.
    readonly_fields = ("hot_desk_logged_in",)
    inlines = [DestinationInline]
    actions = ["hot_desk_login", "hot_desk_logout"]

    def has_hot_desk_permission(self, request) -> bool:
        return request.user.has_perm("devices.hot_desk_extension")

    @admin.action(description=_("Hot desk: log the user in (re-applies the profile)"), permissions=("hot_desk",))
    def hot_desk_login(self, request, queryset):
        self._hot_desk(request, queryset, logged_in=True)

    @admin.action(description=_("Hot desk: log the user out"), permissions=("hot_desk",))
    def hot_desk_logout(self, request, queryset):
        self._hot_desk(request, queryset, logged_in=False)

    def _hot_desk(self, request, queryset, *, logged_in: bool) -> None:
        side = hooks.profile_side()
        changed = 0
        for extension in queryset:
            try:
                changed += side.hot_desk(extension=extension, logged_in=logged_in, actor=request.user, by_admin=True)
            except PortalError as exc:
                self.message_user(request, exc.message, messages.ERROR)
        template = (
            ngettext("%(count)d extension logged in.", "%(count)d extensions logged in.", changed)
            if logged_in
            else ngettext("%(count)d extension logged out.", "%(count)d extensions logged out.", changed)
        )
        self.message_user(request, template % {"count": changed})


@admin.register(Destination)
class DestinationAdmin(PortalModelAdmin):
    list_display = ("extension", "family", "number", "ring_delay", "ring_timeout", "position")
    list_filter = ("family",)
    search_fields = ("number", "extension__number", "extension__name")
    list_select_related = ("extension",)
    autocomplete_fields = ("extension",)


@admin.register(Team)
class TeamAdmin(PortalModelAdmin):
    list_display = ("name", "queue", "member_count")
    search_fields = ("name", "queue", "members__number")
    autocomplete_fields = ("members",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members", distinct=True))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, team) -> int:
        return team.member_count


@admin.register(Location)
class LocationAdmin(PortalModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name", "description")


@admin.register(ClientSession)
class ClientSessionAdmin(ReadOnlyAdmin):
    list_display = (
        "user",
        "extension",
        "client_name",
        "client_version",
        "connected_at",
        "last_heartbeat_at",
        "expires_at",
    )
    search_fields = ("user__username", "extension__number", "client_name", "client_id")
    list_filter = ("connected_at",)
    list_select_related = ("user", "extension")
    actions = ["disconnect"]

    def has_disconnect_permission(self, request) -> bool:
        return request.user.has_perm("devices.disconnect_clientsession")

    @admin.action(
        description=_("Disconnect the selected client sessions (the softphones lose the profile)"),
        permissions=("disconnect",),
    )
    def disconnect(self, request, queryset):
        side = hooks.profile_side()
        sessions = list(queryset.select_related("user", "extension"))
        for session in sessions:
            side.disconnect_client(user=session.user, extension=session.extension, actor=request.user, by_admin=True)
        self.message_user(
            request,
            ngettext("%(count)d client session disconnected.", "%(count)d client sessions disconnected.", len(sessions))
            % {"count": len(sessions)},
        )


@admin.register(TargetState)
class TargetStateAdmin(ReadOnlyAdmin):
    list_display = ("user", "version", "applied_version", "status", "error_permanent", "retry_at", "updated_at")
    list_filter = ("status", "error_permanent")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    actions = ["reapply_users", "reconcile_users"]

    def has_reapply_permission(self, request) -> bool:
        return request.user.has_perm("devices.reapply_profiles")

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm("devices.reconcile_devices")

    @admin.action(description=_("Re-apply the selected users' profiles"), permissions=("reapply",))
    def reapply_users(self, request, queryset):
        count = hooks.profile_side().reapply_users(
            user_ids=list(queryset.values_list("user_id", flat=True)), actor=request.user, detail="admin action"
        )
        self.message_user(request, _("Re-apply of %(count)d users enqueued.") % {"count": count})

    @admin.action(description=_("Check the selected users' devices for mismatches"), permissions=("reconcile",))
    def reconcile_users(self, request, queryset):
        flagged = services.reconcile_users(list(queryset.values_list("user_id", flat=True)))
        self.message_user(
            request,
            _("%(flagged)d of the selected users have devices that differ from their profile.") % {"flagged": flagged},
        )


class ApplyStepInline(ReadOnlyInline):
    model = ApplyStep
    fields = ("position", "extension", "op", "args", "description", "ok", "error", "duration_ms")


@admin.register(ApplyRun)
class ApplyRunAdmin(ReadOnlyAdmin):
    list_display = ("user", "target_version", "reason", "result", "step_count", "duration_ms", "started_at")
    list_filter = ("result", "reason", "started_at")
    search_fields = ("user__username", "error")
    list_select_related = ("user",)
    date_hierarchy = "started_at"
    inlines = [ApplyStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_count=Count("steps"))

    @admin.display(description=_("steps"), ordering="step_count")
    def step_count(self, run) -> int:
        return run.step_count


@admin.register(Mismatch)
class MismatchAdmin(ReadOnlyAdmin):
    list_display = ("user", "extension", "description", "detected_at")
    list_filter = ("op", "detected_at")
    search_fields = ("user__username", "extension", "description")
    list_select_related = ("user",)


@admin.register(SimulatedDevice)
class SimulatedDeviceAdmin(PortalModelAdmin):
    """The simulated PBX's devices. Their state changes only through
    commands (the portal's, or a manual change at the "handset"); the fault
    fields are the simulation's knobs for trying out failures."""

    list_display = ("extension", "owner", "fault", "fault_count", "updated_at")
    list_filter = ("fault",)
    search_fields = ("extension__number", "extension__owner__username")
    list_select_related = ("extension", "extension__owner")
    fields = ("extension", "state", "fault", "fault_count", "updated_at")
    readonly_fields = ("extension", "state", "updated_at")

    actions = ["inject_transient_fault", "inject_permanent_fault", "clear_fault"]

    def has_add_permission(self, request) -> bool:
        return False

    def _set_fault(self, request, queryset, fault: str, done: str) -> None:
        devices = list(queryset.select_related("extension"))
        for device in devices:
            services.set_fault(extension=device.extension, fault=fault, count=3)
        self.message_user(request, _("%(count)d devices: %(done)s") % {"count": len(devices), "done": done})

    @admin.action(description=_("Inject a transient fault (next 3 writes fail, retryable)"), permissions=("change",))
    def inject_transient_fault(self, request, queryset):
        self._set_fault(request, queryset, "transient", _("the next 3 writes fail with a retryable error."))

    @admin.action(description=_("Inject a permanent fault (writes fail until cleared)"), permissions=("change",))
    def inject_permanent_fault(self, request, queryset):
        self._set_fault(request, queryset, "permanent", _("every write fails until the fault is cleared."))

    @admin.action(description=_("Clear the simulated fault"), permissions=("change",))
    def clear_fault(self, request, queryset):
        self._set_fault(request, queryset, "", _("fault cleared."))

    @admin.display(description=_("owner"), ordering="extension__owner__username")
    def owner(self, device):
        return device.extension.owner


@admin.register(ListenerStatus)
class ListenerStatusAdmin(ReadOnlyAdmin):
    """The PBX event listener (manage.py pbx_listen), as it last reported.
    A heartbeat older than a minute with state "connected" means the
    process died without saying so."""

    list_display = (
        "pbx",
        "state",
        "connected_since",
        "last_event_at",
        "last_event",
        "last_error_at",
        "last_error",
        "events_processed",
        "process",
        "heartbeat_at",
    )


@admin.register(LineState)
class LineStateAdmin(ReadOnlyAdmin):
    list_display = ("extension", "state", "changed_at")
    list_filter = ("state",)
    search_fields = ("extension__number",)
    list_select_related = ("extension",)


@admin.register(PbxEvent)
class PbxEventAdmin(ReadOnlyAdmin):
    """The simulated PBX's events not yet handled by its listener (empty
    while the listener runs)."""

    list_display = ("id", "__str__", "created_at")
