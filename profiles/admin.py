"""Admin for the presence side: client profiles, accounts, presence profiles
(system-wide, the per-user template, personal) with their ordered enter and
exit chains, triggers, connectors, and the read-only audit.

Admin classes are declarative; saving and admin actions go through the
service functions in profiles.seeding / profiles.services / profiles.triggers.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count, Max
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from devices import services as device_services
from devices.admin import PortalModelAdmin, ReadOnlyAdmin
from profiles import seeding, selectors
from profiles.actions import describe_action
from profiles.admin_forms import (
    AccountForm,
    ClientProfileForm,
    PresenceProfileForm,
    TypedActionForm,
    typed_action_fieldsets,
    typed_action_form,
)
from profiles.admin_staff import StaffActionsMixin
from profiles.automation import connectors, triggers
from profiles.errors import PortalError
from profiles.models import (
    Account,
    Action,
    CalendarLink,
    ClientProfile,
    GraphSubscription,
    MeetingPresence,
    PresenceProfile,
    RecentValue,
    Selection,
    StatusConnector,
    SwitchEvent,
    Trigger,
    TriggerFiring,
    WebhookReceipt,
)

admin.site.site_header = _("Presence Profiles administration")
admin.site.site_title = _("Presence Profiles admin")
admin.site.index_title = _("Phone system and presence profiles")


def _report(modeladmin, request, done: str, errors: list[str]) -> None:
    if done:
        modeladmin.message_user(request, done, messages.SUCCESS)
    for error in errors:
        modeladmin.message_user(request, error, messages.ERROR)


# --- client profiles and accounts ---------------------------------------------------


@admin.register(ClientProfile)
class ClientProfileAdmin(StaffActionsMixin, PortalModelAdmin):
    form = ClientProfileForm
    list_display = (
        "name",
        "presence_profiles_enabled",
        "disable_dee_ucd_when_logged_out",
        "selected_profile_edit_policy",
        "member_count",
    )
    list_filter = ("presence_profiles_enabled", "disable_dee_ucd_when_logged_out", "selected_profile_edit_policy")
    search_fields = ("name",)
    filter_horizontal = ("system_profiles",)
    actions = ["enable_presence", "disable_presence", "switch_users", "reapply_users", "reconcile_members"]

    def staff_user_ids(self, queryset) -> list[int]:
        return list(Account.objects.filter(client_profile__in=queryset).values_list("user_id", flat=True))

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("accounts", distinct=True))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, client_profile) -> int:
        return client_profile.member_count

    def save_model(self, request, obj, form, change):
        # Turning presence profiles on gives every member the defaults: the
        # service does that, so the flag itself is stored through it.
        if "presence_profiles_enabled" not in form.changed_data:
            super().save_model(request, obj, form, change)
            return
        enabled = obj.presence_profiles_enabled
        obj.presence_profiles_enabled = not enabled
        super().save_model(request, obj, form, change)
        seeding.set_presence_enabled(client_profile=obj, enabled=enabled)

    @admin.action(description=_("Enable presence profiles (gives members the defaults)"), permissions=("change",))
    def enable_presence(self, request, queryset):
        self._set_presence(request, queryset, True)

    @admin.action(description=_("Disable presence profiles"), permissions=("change",))
    def disable_presence(self, request, queryset):
        self._set_presence(request, queryset, False)

    def _set_presence(self, request, queryset, enabled: bool) -> None:
        done, errors = [], []
        for client_profile in queryset:
            try:
                seeding.set_presence_enabled(client_profile=client_profile, enabled=enabled)
                done.append(client_profile.name)
            except ValidationError as exc:
                errors.append(f"{client_profile.name}: {' '.join(exc.messages)}")
        template = (
            _("Presence profiles enabled for %(names)s.") if enabled else _("Presence profiles disabled for %(names)s.")
        )
        _report(self, request, template % {"names": ", ".join(done)} if done else "", errors)

    def has_reapply_permission(self, request) -> bool:
        return request.user.has_perm("devices.reapply_profiles")

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm("devices.reconcile_devices")

    @admin.action(description=_("Check the members' devices for mismatches"), permissions=("reconcile",))
    def reconcile_members(self, request, queryset):
        ids = list(Account.objects.filter(client_profile__in=queryset).values_list("user_id", flat=True))
        _report_reconcile(self, request, ids)


def _report_reconcile(modeladmin, request, user_ids: list[int]) -> None:
    flagged = device_services.reconcile_users(user_ids)
    modeladmin.message_user(
        request,
        _("%(flagged)d of %(count)d users have devices that differ from their profile.")
        % {"flagged": flagged, "count": len(user_ids)},
    )


@admin.register(Account)
class AccountAdmin(StaffActionsMixin, PortalModelAdmin):
    form = AccountForm
    list_display = ("user", "client_profile", "primary_extension", "primary_kind", "time_zone")
    list_filter = ("client_profile", "primary_extension__kind", "primary_extension__is_hot_desk")
    search_fields = ("user__username", "user__first_name", "user__last_name", "primary_extension__number")
    list_select_related = ("user", "client_profile", "primary_extension")
    autocomplete_fields = ("user", "primary_extension")
    actions = ["switch_users", "reapply_users", "reconcile_users"]

    def staff_user_ids(self, queryset) -> list[int]:
        return list(queryset.values_list("user_id", flat=True))

    def has_reapply_permission(self, request) -> bool:
        return request.user.has_perm("devices.reapply_profiles")

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm("devices.reconcile_devices")

    @admin.action(description=_("Check the selected users' devices for mismatches"), permissions=("reconcile",))
    def reconcile_users(self, request, queryset):
        _report_reconcile(self, request, list(queryset.values_list("user_id", flat=True)))

    @admin.display(description=_("primary kind"), ordering="primary_extension__kind")
    def primary_kind(self, account) -> str:
        return account.primary_extension.get_kind_display() if account.primary_extension else "–"

    def save_model(self, request, obj, form, change):
        changed = set(form.changed_data) if change else {"client_profile", "primary_extension", "time_zone"}
        seeding.save_account(account=obj, changed=changed, actor=request.user)


# --- presence profiles and their chains ------------------------------------------------


class ActionRowForm(forms.ModelForm):
    """An action's row in its profile's chain: order and on/off only. What
    it does is edited on the action's own page, field by field (no JSON)."""

    class Meta:
        model = Action
        fields = ("position", "enabled")


class PhaseActionInline(admin.TabularInline):
    """One inline per chain, so the enter and exit chains read top to bottom:
    a compact summary per action with a link to its per-type form."""

    model = Action
    form = ActionRowForm
    # Django's tabular inline with a label for every input (axe: no unnamed fields).
    template = "admin/edit_inline/tabular_labelled.html"
    phase = Action.Phase.ENTER
    extra = 0
    fields = ("position", "enabled", "summary")
    readonly_fields = ("summary",)
    ordering = ("position", "id")
    show_change_link = True

    def get_queryset(self, request):
        self.names = selectors.reference_names()  # for summary(): names, not ids
        return super().get_queryset(request).filter(phase=self.phase)

    def has_add_permission(self, request, obj=None):
        # New actions are added on the typed action form (links on the profile).
        return False

    @admin.display(description=_("does"))
    def summary(self, action) -> str:
        return describe_action(action.type, action.params, getattr(self, "names", None)) if action.pk else ""


class EnterActionInline(PhaseActionInline):
    phase = Action.Phase.ENTER
    verbose_name = _("action on entering")
    verbose_name_plural = _("actions on entering (run top to bottom)")


class ExitActionInline(PhaseActionInline):
    phase = Action.Phase.EXIT
    verbose_name = _("action on leaving")
    verbose_name_plural = _("actions on leaving (run before the next profile's entering actions)")


@admin.register(PresenceProfile)
class PresenceProfileAdmin(PortalModelAdmin):
    form = PresenceProfileForm
    list_display = ("name", "kind", "owner", "icon", "colour", "icon_visible", "sticky", "position", "action_count")
    list_filter = ("kind", "sticky", "icon_visible", "is_default", "icon")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    ordering = ("kind", "owner__username", "position", "id")
    inlines = [EnterActionInline, ExitActionInline]
    actions = ["reapply_for_users"]
    readonly_fields = ("add_actions",)

    @admin.display(description=_("add an action"))
    def add_actions(self, profile) -> str:
        if profile is None or not profile.pk:
            return _("Save the profile first, then add its actions.")
        url = reverse("admin:profiles_action_add")
        return format_html_join(
            " · ",
            '<a href="{}?profile={}&amp;phase={}">{}</a>',
            [
                (url, profile.pk, Action.Phase.ENTER, _("on entering")),
                (url, profile.pk, Action.Phase.EXIT, _("on leaving")),
            ],
        )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(action_count=Count("actions"))

    @admin.display(description=_("actions"), ordering="action_count")
    def action_count(self, profile) -> int:
        return profile.action_count

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change and (form.has_changed() or any(formset.has_changed() for formset in formsets)):
            count = seeding.reapply_profile_users(profile=form.instance, actor=request.user)
            if count:
                self.message_user(
                    request,
                    ngettext(
                        "Re-applied for %(count)d user who has %(profile)s selected.",
                        "Re-applied for %(count)d users who have %(profile)s selected.",
                        count,
                    )
                    % {"count": count, "profile": form.instance},
                )

    def has_reapply_permission(self, request) -> bool:
        return request.user.has_perm("devices.reapply_profiles")

    @admin.action(description=_("Re-apply for the users who have it selected"), permissions=("reapply",))
    def reapply_for_users(self, request, queryset):
        count = sum(seeding.reapply_profile_users(profile=profile, actor=request.user) for profile in queryset)
        self.message_user(
            request,
            ngettext("Re-applied for %(count)d user.", "Re-applied for %(count)d users.", count) % {"count": count},
        )


@admin.register(Action)
class ActionAdmin(PortalModelAdmin):
    """Every action of every profile, to find them; usually edited inline."""

    form = TypedActionForm
    list_display = ("profile", "profile_kind", "phase", "position", "type", "enabled", "summary")
    list_filter = ("phase", "type", "enabled", "profile__kind")
    search_fields = ("profile__name", "profile__owner__username")
    list_select_related = ("profile", "profile__owner")
    autocomplete_fields = ("profile",)

    class Media:
        js = ("js/admin-action-type.js",)

    # Fields and groups come from the action-type registry on each request.
    def get_fieldsets(self, request, obj=None):
        return typed_action_fieldsets()

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = typed_action_form()
        return super().get_form(request, obj, change, **kwargs)

    def get_queryset(self, request):
        self.names = selectors.reference_names()  # for summary(): names, not ids
        return super().get_queryset(request)

    @admin.display(description=_("profile kind"), ordering="profile__kind")
    def profile_kind(self, action) -> str:
        return action.profile.get_kind_display()

    def get_changeform_initial_data(self, request):
        """From a profile's "add an action" link: that profile and chain, at its end."""
        initial = super().get_changeform_initial_data(request)
        profile_id = str(initial.get("profile", ""))
        if profile_id.isdigit():
            last = Action.objects.filter(profile_id=profile_id).aggregate(last=Max("position"))["last"]
            initial.setdefault("position", 0 if last is None else last + 1)
        return initial

    def _back_to_profile(self, request, action, response):
        # Actions are edited from their profile: return there after saving.
        if any(key in request.POST for key in ("_continue", "_addanother", "_saveasnew", "_popup")):
            return response
        return HttpResponseRedirect(reverse("admin:profiles_presenceprofile_change", args=[action.profile_id]))

    def response_add(self, request, obj, post_url_continue=None):
        return self._back_to_profile(request, obj, super().response_add(request, obj, post_url_continue))

    def response_change(self, request, obj):
        return self._back_to_profile(request, obj, super().response_change(request, obj))

    @admin.display(description=_("does"))
    def summary(self, action) -> str:
        return describe_action(action.type, action.params, getattr(self, "names", None))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        seeding.reapply_profile_users(profile=obj.profile, actor=request.user)

    def delete_model(self, request, obj):
        profile = obj.profile
        super().delete_model(request, obj)
        seeding.reapply_profile_users(profile=profile, actor=request.user)


# --- triggers and connectors ----------------------------------------------------------


@admin.register(StatusConnector)
class StatusConnectorAdmin(PortalModelAdmin):
    list_display = ("name", "kind", "enabled", "is_configured", "status", "checked_at", "next_poll_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "tenant_id", "client_id")
    readonly_fields = ("status", "checked_at", "next_poll_at", "poll_lease_until", "subscriptions_display")
    # Graph and login endpoints are HTTPS; also Django 6's default.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["check_now"]

    @admin.display(description=_("configured"), boolean=True)
    def is_configured(self, connector) -> bool:
        return connector.configured

    @admin.display(description=_("Graph subscriptions"))
    def subscriptions_display(self, connector) -> str:
        rows = connector.subscriptions.order_by("expires_at")
        return "; ".join(str(s) for s in rows) or _("none")

    @admin.action(
        description=_("Check the selected connectors now (Microsoft 365: poll once)"), permissions=("change",)
    )
    def check_now(self, request, queryset):
        results = [f"{c.name}: {connectors.check_connector(c)}" for c in queryset]
        errors = [r for r in results if ": error:" in r]
        _report(self, request, "; ".join(r for r in results if r not in errors), errors)


@admin.register(GraphSubscription)
class GraphSubscriptionAdmin(ReadOnlyAdmin):
    """Microsoft Graph presence subscriptions, kept by the connector's polls;
    the clientState is a secret and not shown."""

    list_display = ("connector", "subscription_id", "expires_at", "created_at")
    list_filter = ("connector",)
    search_fields = ("subscription_id",)
    list_select_related = ("connector",)
    exclude = ("client_state",)


@admin.register(CalendarLink)
class CalendarLinkAdmin(ReadOnlyAdmin):
    """Users link their calendars on the Triggers page; administrators see
    each one's status (why it does not switch) and may delete it. The
    address is a secret: only its hint is shown."""

    list_display = (
        "name",
        "user",
        "profile",
        "source",
        "url_hint",
        "match",
        "enabled",
        "status",
        "checked_at",
        "next_change_at",
    )
    list_filter = ("source", "match", "enabled")
    search_fields = ("name", "user__username", "user__email")
    list_select_related = ("user", "profile")
    exclude = ("url_encrypted", "password_encrypted", "etag", "last_modified")
    readonly_fields = ("intervals",)


@admin.register(Trigger)
class TriggerAdmin(ReadOnlyAdmin):
    """Triggers are the users' own; administrators can see them and turn
    them on or off (which reschedules through the triggers service)."""

    list_display = ("profile", "owner", "kind", "enabled", "time_of_day", "weekdays_display", "next_fire_at")
    list_filter = ("kind", "enabled")
    search_fields = ("profile__name", "profile__owner__username")
    list_select_related = ("profile", "profile__owner", "connector")
    actions = ["enable_triggers", "disable_triggers"]

    @admin.display(description=_("owner"), ordering="profile__owner__username")
    def owner(self, trigger):
        return trigger.profile.owner

    @admin.display(description=_("weekdays"))
    def weekdays_display(self, trigger) -> str:
        return " ".join(trigger.weekday_names)

    def has_switch_permission(self, request) -> bool:
        return request.user.has_perm("profiles.switch_trigger")

    @admin.action(description=_("Turn the selected triggers on"), permissions=("switch",))
    def enable_triggers(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Turn the selected triggers off"), permissions=("switch",))
    def disable_triggers(self, request, queryset):
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        done, errors = 0, []
        for trigger in queryset:
            try:
                triggers.set_trigger_enabled(user=trigger.profile.owner, trigger=trigger, enabled=enabled)
                done += 1
            except PortalError as exc:
                errors.append(f"{trigger}: {exc.message}")
            except ValidationError as exc:
                errors.append(f"{trigger}: {' '.join(exc.messages)}")
        template = (
            ngettext("%(count)d trigger turned on.", "%(count)d triggers turned on.", done)
            if enabled
            else ngettext("%(count)d trigger turned off.", "%(count)d triggers turned off.", done)
        )
        _report(self, request, template % {"count": done}, errors)


@admin.register(TriggerFiring)
class TriggerFiringAdmin(ReadOnlyAdmin):
    list_display = ("trigger", "owner", "scheduled_for", "fired_at", "outcome", "detail")
    list_filter = ("outcome", "scheduled_for")
    search_fields = ("trigger__profile__name", "trigger__profile__owner__username")
    list_select_related = ("trigger", "trigger__profile", "trigger__profile__owner")

    @admin.display(description=_("owner"), ordering="trigger__profile__owner__username")
    def owner(self, firing):
        return firing.trigger.profile.owner


@admin.register(MeetingPresence)
class MeetingPresenceAdmin(ReadOnlyAdmin):
    """What the status connectors last said about each user (written by them)."""

    list_display = ("user", "connector", "in_meeting", "activity", "changed_at")
    list_filter = ("in_meeting", "connector")
    search_fields = ("user__username", "external_id")
    list_select_related = ("user", "connector")


@admin.register(WebhookReceipt)
class WebhookReceiptAdmin(ReadOnlyAdmin):
    """Accepted webhook calls inside the replay window (written by the webhook)."""

    list_display = ("connector", "user", "sent_at", "received_at")
    list_filter = ("connector",)
    search_fields = ("user__username",)
    list_select_related = ("connector", "user")


# --- selection and audit ----------------------------------------------------------------


@admin.register(Selection)
class SelectionAdmin(ReadOnlyAdmin):
    """Who has which profile selected; switching goes through the portal."""

    list_display = ("user", "profile", "previous_profile", "since", "source", "until")
    list_filter = ("source", "profile__kind")
    search_fields = ("user__username", "profile__name")
    list_select_related = ("user", "profile", "previous_profile")


@admin.register(SwitchEvent)
class SwitchEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "event", "old_name", "new_name", "source", "actor", "target_version")
    list_filter = ("event", "source", "created_at")
    search_fields = ("user__username", "old_name", "new_name", "source_detail")
    list_select_related = ("user", "actor")
    date_hierarchy = "created_at"


@admin.register(RecentValue)
class RecentValueAdmin(PortalModelAdmin):
    list_display = ("user", "kind", "value", "last_used")
    list_filter = ("kind",)
    search_fields = ("user__username", "value")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
