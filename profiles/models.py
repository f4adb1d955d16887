"""What users choose: client profiles (policy), presence profiles with their
action chains, triggers, the current selection, and the audit of switches."""

import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext_lazy as _

from devices.models import Extension
from profiles.actions import MAX_TYPE_NAME, action_type_choices, describe_action, validate_params
from profiles.icons import ICONS

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def validate_colour(value: str) -> None:
    if not COLOUR.match(value or ""):
        raise ValidationError(_("A colour is written #rrggbb, for example #2e7d32."), code="invalid_colour")


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "%(value)s is not a time zone; use an IANA name such as Europe/Berlin.",
            params={"value": value},
            code="invalid_time_zone",
        ) from None


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


class ClientProfile(models.Model):
    """Policy for a group of users (Mitel's Client Profile, pascom's role)."""

    class EditPolicy(models.TextChoices):
        APPLY = "apply", _("Edits of the selected profile apply at once (Mitel)")
        REFUSE = "refuse", _("Edits of the selected profile are refused while it is in use (pascom)")

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    presence_profiles_enabled = models.BooleanField(_("enable presence profiles"), default=False)
    disable_dee_ucd_when_logged_out = models.BooleanField(
        _("disable DEE & UCD when hot-desk user is logged out"), default=False
    )
    selected_profile_edit_policy = models.CharField(
        max_length=8,
        choices=EditPolicy.choices,
        default=EditPolicy.APPLY,
        verbose_name=_("selected profile edit policy"),
    )
    system_profiles = models.ManyToManyField(
        "PresenceProfile",
        blank=True,
        related_name="client_profiles",
        limit_choices_to={"kind": "system"},
        help_text=_("The system-wide profiles its users get."),
        verbose_name=_("system profiles"),
    )
    on_call_profile = models.ForeignKey(
        "PresenceProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to={"kind": "system"},
        verbose_name=_("profile while on a call"),
        help_text=_(
            "Switch to this system profile while a member is on the phone and back when the call ends,"
            " as a meeting does (empty: off)."
        ),
    )
    # Session trigger default for its users (profiles.automation.sessions).
    session_end_profile = models.ForeignKey(
        "PresenceProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        limit_choices_to={"kind": "system"},
        help_text=_("Switch users to this system profile when their last client disconnects or expires."),
        verbose_name=_("profile when the last client leaves"),
    )
    session_return_on_connect = models.BooleanField(
        default=False,
        help_text=_("Return to the profile before when a client connects again."),
        verbose_name=_("return when a client connects"),
    )

    class Meta:
        verbose_name = _("client profile")
        verbose_name_plural = _("client profiles")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    """The portal's view of one user: policy, time zone, primary extension."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account", verbose_name=_("user")
    )
    client_profile = models.ForeignKey(
        ClientProfile,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("client profile"),
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], verbose_name=_("time zone")
    )
    primary_extension = models.OneToOneField(
        Extension,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="primary_of",
        verbose_name=_("primary extension"),
    )
    # The user's own session trigger; none: the client profile's default.
    session_end_profile = models.ForeignKey(
        "PresenceProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Switch to this profile when the last client disconnects or expires."),
        verbose_name=_("profile when the last client leaves"),
    )
    session_return_on_connect = models.BooleanField(
        default=False,
        help_text=_("Return to the profile before when a client connects again."),
        verbose_name=_("return when a client connects"),
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")

    def __str__(self) -> str:
        return str(self.user)

    @property
    def presence_enabled(self) -> bool:
        return bool(self.client_profile and self.client_profile.presence_profiles_enabled)


class PresenceProfileQuerySet(models.QuerySet):
    def available_to(self, user):
        """The profiles ``user`` may select: their own personal profiles and
        the system profiles of their client profile (docs/rules.md#rule-2)."""
        user_id = getattr(user, "pk", user)
        return self.filter(
            Q(owner_id=user_id, kind=PresenceProfile.Kind.PERSONAL)
            | Q(kind=PresenceProfile.Kind.SYSTEM, client_profiles__accounts__user_id=user_id)
        ).distinct()

    def owned_by(self, user):
        """``user``'s personal profiles (the ones they may edit)."""
        return self.filter(owner_id=getattr(user, "pk", user), kind=PresenceProfile.Kind.PERSONAL)


class PresenceProfile(models.Model):
    """A status colleagues see plus the actions it runs on entry and exit.

    kind "system": owned by nobody, managed by administrators, given to users
    through their client profile. kind "template": the administrator-editable
    defaults copied to a user when presence profiles are enabled. kind
    "personal": a user's own.
    """

    class Kind(models.TextChoices):
        SYSTEM = "system", _("System-wide")
        TEMPLATE = "template", _("Default template")
        PERSONAL = "personal", _("Personal")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="presence_profiles",
        verbose_name=_("owner"),
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PERSONAL, verbose_name=_("kind"))
    name = models.CharField(
        max_length=64, help_text=_("Also the presence text colleagues see."), verbose_name=_("name")
    )
    icon = models.CharField(max_length=32, choices=ICONS, default="circle", verbose_name=_("icon"))
    colour = models.CharField(max_length=7, default="#2e7d32", validators=[validate_colour], verbose_name=_("colour"))
    icon_visible = models.BooleanField(_("icon visible to colleagues"), default=True)
    sticky = models.BooleanField(
        default=False, help_text=_("Never left by a trigger, only by the user's own choice."), verbose_name=_("sticky")
    )
    is_default = models.BooleanField(
        default=False,
        help_text=_("Template only: the profile selected when presence profiles are enabled."),
        verbose_name=_("is default"),
    )
    position = models.PositiveIntegerField(default=0, verbose_name=_("position"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = PresenceProfileQuerySet.as_manager()

    class Meta:
        verbose_name = _("presence profile")
        verbose_name_plural = _("presence profiles")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(owner__isnull=False), name="profile_name_unique_per_owner"
            ),
            models.UniqueConstraint(
                fields=["kind", "name"], condition=Q(owner__isnull=True), name="profile_name_unique_per_kind"
            ),
            models.CheckConstraint(
                condition=(Q(kind="personal") & Q(owner__isnull=False)) | (~Q(kind="personal") & Q(owner__isnull=True)),
                name="profile_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_system(self) -> bool:
        return self.kind == self.Kind.SYSTEM

    def is_owned_by(self, user) -> bool:
        """A personal profile of ``user`` (user or user id): theirs to edit."""
        return self.kind == self.Kind.PERSONAL and self.owner_id == getattr(user, "pk", user)


class Action(models.Model):
    """One step of a profile's enter or exit chain; parameters per type are
    described and validated in profiles.actions."""

    class Phase(models.TextChoices):
        ENTER = "enter", _("On entering")
        EXIT = "exit", _("On leaving")

    profile = models.ForeignKey(
        PresenceProfile, on_delete=models.CASCADE, related_name="actions", verbose_name=_("profile")
    )
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.ENTER, verbose_name=_("phase"))
    position = models.PositiveIntegerField(default=0, verbose_name=_("position"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    # The registry (profiles.actions.ACTION_TYPES) names the types: a new
    # type is one registry entry, no migration.
    type = models.CharField(max_length=MAX_TYPE_NAME, choices=action_type_choices, verbose_name=_("type"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))

    class Meta:
        verbose_name = _("action")
        verbose_name_plural = _("actions")
        ordering = ["profile", "phase", "position", "id"]
        indexes = [models.Index(fields=["profile", "phase", "position"], name="action_chain_idx")]

    def __str__(self) -> str:
        return describe_action(self.type, self.params)

    def clean(self) -> None:
        self.params = validate_params(self.type, self.params)


def validate_notification_url(value: str) -> None:
    """Graph delivers change notifications only to https addresses; plain
    http is accepted for this machine alone (development and the tests)."""
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValidationError("Give the portal's address without ? or #, e.g. https://portal.example.com")
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValidationError("Microsoft Graph sends change notifications only to https:// addresses.")


class StatusConnector(models.Model):
    """A source of meeting status (pascom's Microsoft 365 Status Connector)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Signed webhook")
        M365 = "m365", _("Microsoft 365 (Graph presence)")
        PHONE = "phone", _("Phone calls (PBX line state)")

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    # Webhook: the shared HMAC-SHA256 signing secret (the sender needs it too).
    webhook_secret = models.CharField(max_length=128, blank=True, verbose_name=_("webhook secret"))
    # Microsoft 365: app registration; the client secret is read from the
    # environment variable named here, never stored in the database.
    tenant_id = models.CharField(max_length=64, blank=True, verbose_name=_("tenant id"))
    client_id = models.CharField(max_length=64, blank=True, verbose_name=_("client id"))
    client_secret_env = models.CharField(
        max_length=64, blank=True, help_text=_("Name of the environment variable."), verbose_name=_("client secret env")
    )
    graph_url = models.URLField(default="https://graph.microsoft.com/v1.0", blank=True, verbose_name=_("graph url"))
    authority_url = models.URLField(
        default="https://login.microsoftonline.com", blank=True, verbose_name=_("authority url")
    )
    status = models.TextField(
        blank=True, help_text=_("Last result of talking to the source."), verbose_name=_("status")
    )
    checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("checked at"))
    # Microsoft 365 polling: every poll_interval seconds (pascom checks every
    # 5-10 s), later when Graph answers 429 Retry-After; at most one poll of
    # a connector runs at a time (poll_lease_until, a claimed lease).
    poll_interval = models.PositiveIntegerField(
        _("poll every (seconds)"),
        default=10,
        validators=[MinValueValidator(5), MaxValueValidator(3600)],
        help_text=_("Microsoft 365: seconds between two polls of Teams presence (5-3600)."),
    )
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("next poll at"))
    poll_lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("poll lease until"))
    # Microsoft 365 change notifications: the portal's public address, when
    # Graph can reach it; then presence subscriptions replace the fast poll
    # (profiles.automation.connectors.m365, "change notifications").
    notification_url = models.URLField(
        _("public address for change notifications"),
        max_length=300,
        blank=True,
        validators=[validate_notification_url],
        help_text=_(
            "Microsoft 365: the portal's address as Graph reaches it from the internet (https://…). "
            "Set: Teams presence arrives as change notifications and is polled only every few minutes. "
            "Empty: polled every few seconds."
        ),
    )

    class Meta:
        verbose_name = _("status connector")
        verbose_name_plural = _("status connectors")

    def __str__(self) -> str:
        return self.name

    @property
    def configured(self) -> bool:
        if not self.enabled or self.kind == self.Kind.PHONE:
            # The phone's line state only drives the client profiles' "on a
            # call" switch, never a user's meeting trigger.
            return False
        if self.kind == self.Kind.WEBHOOK:
            return bool(self.webhook_secret)
        return bool(self.tenant_id and self.client_id and self.client_secret_env)


class WebhookReceipt(models.Model):
    """A signed status webhook call that was accepted, kept while its
    timestamp is inside the replay window: the same signature again, or an
    event older than the last accepted one for the user, is refused."""

    connector = models.ForeignKey(
        StatusConnector, on_delete=models.CASCADE, related_name="receipts", verbose_name=_("connector")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_receipts", verbose_name=_("user")
    )
    digest = models.CharField(max_length=64, help_text=_("SHA-256 of the signature header."), verbose_name=_("digest"))
    sent_at = models.DateTimeField(help_text=_("The sender's timestamp."), verbose_name=_("sent at"))
    received_at = models.DateTimeField(verbose_name=_("received at"))

    class Meta:
        verbose_name = _("webhook receipt")
        verbose_name_plural = _("webhook receipts")
        constraints = [models.UniqueConstraint(fields=["connector", "digest"], name="webhook_receipt_once")]
        indexes = [models.Index(fields=["connector", "user", "-sent_at"], name="webhook_receipt_user_idx")]

    def __str__(self) -> str:
        return f"{self.connector} → {self.user} at {self.sent_at}"


class Trigger(models.Model):
    """Switches to its profile automatically: at a local time on chosen
    weekdays, or while the user is in a meeting."""

    class Kind(models.TextChoices):
        TIME = "time", _("Time")
        MEETING = "meeting", _("Microsoft Teams meeting")

    # Weekday bits, Monday first (date.weekday()).
    WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    profile = models.ForeignKey(
        PresenceProfile, on_delete=models.CASCADE, related_name="triggers", verbose_name=_("profile")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TIME, verbose_name=_("kind"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    time_of_day = models.TimeField(null=True, blank=True, verbose_name=_("time of day"))
    weekdays = models.PositiveSmallIntegerField(
        default=0b0011111, help_text=_("Bit 0 = Monday … bit 6 = Sunday."), verbose_name=_("weekdays")
    )
    holiday_country = models.CharField(
        max_length=8,
        blank=True,
        help_text=_("Skip public holidays of, e.g., DE or US."),
        verbose_name=_("holiday country"),
    )
    holiday_subdivision = models.CharField(max_length=16, blank=True, verbose_name=_("holiday subdivision"))
    active_from = models.DateField(null=True, blank=True, verbose_name=_("active from"))
    active_until = models.DateField(null=True, blank=True, verbose_name=_("active until"))
    connector = models.ForeignKey(
        StatusConnector,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="triggers",
        verbose_name=_("connector"),
    )
    next_fire_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next fire at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")
        ordering = ["profile", "time_of_day", "id"]
        permissions = [("switch_trigger", "Can turn users' triggers on and off")]
        indexes = [
            models.Index(
                fields=["next_fire_at"],
                name="trigger_due_idx",
                condition=Q(enabled=True, next_fire_at__isnull=False),
            )
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.MEETING:
            return f"meeting → {self.profile}"
        return f"{self.time_of_day} → {self.profile}"

    @property
    def weekday_names(self) -> list[str]:
        return [name for bit, name in enumerate(self.WEEKDAYS) if self.weekdays & (1 << bit)]

    @property
    def weekday_labels(self) -> list[str]:
        """The weekdays in the reader's language (Django's own abbreviations)."""
        return [str(WEEKDAYS_ABBR[bit]) for bit in range(7) if self.weekdays & (1 << bit)]


class Outcome(models.TextChoices):
    """What became of an automatic event (a trigger firing, a timer ending,
    a meeting starting or ending): the one outcome of
    profiles.automation.precedence.decide, stored on firings and answered
    by the status webhook."""

    APPLIED = "applied", _("Applied")
    MISSED = "missed", _("Missed (too late)")
    SKIPPED_STICKY = "skipped_sticky", _("Skipped: sticky profile")
    SKIPPED_SAME = "skipped_same", _("Skipped: already selected")
    SKIPPED_DISABLED = "skipped_disabled", _("Skipped: presence profiles disabled")
    PENDING = "pending", _("Claimed, being applied")
    DEFERRED = "deferred", _("Deferred: meeting or timer active; returns to it after")
    FAILED = "failed", _("Failed")
    UNCHANGED = "unchanged", _("Unchanged: nothing to do")
    IGNORED = "ignored", _("Ignored: no trigger for it")
    DROPPED = "dropped", _("Dropped: nothing to return to")


class TriggerFiring(models.Model):
    """One occurrence of a time trigger, recorded under a unique key so a
    second Beat or a retried tick never fires it twice."""

    Outcome = Outcome

    # No index of its own: the unique (trigger, scheduled_for) serves lookups by trigger.
    trigger = models.ForeignKey(
        Trigger, on_delete=models.CASCADE, related_name="firings", db_index=False, verbose_name=_("trigger")
    )
    scheduled_for = models.DateTimeField(verbose_name=_("scheduled for"))
    fired_at = models.DateTimeField(verbose_name=_("fired at"))
    outcome = models.CharField(max_length=32, choices=Outcome.choices, verbose_name=_("outcome"))
    detail = models.CharField(max_length=200, blank=True, verbose_name=_("detail"))

    class Meta:
        verbose_name = _("trigger firing")
        verbose_name_plural = _("trigger firings")
        constraints = [models.UniqueConstraint(fields=["trigger", "scheduled_for"], name="firing_once")]
        ordering = ["-scheduled_for"]
        # The due-scan looks for claimed firings whose batch task was lost.
        indexes = [models.Index(fields=["fired_at"], name="firing_pending_idx", condition=Q(outcome="pending"))]

    def __str__(self) -> str:
        return f"{self.trigger} at {self.scheduled_for:%Y-%m-%d %H:%M}Z: {self.outcome}"


class CalendarLink(models.Model):
    """A user's calendar (an ICS address or a CalDAV account) whose matching
    events switch them to ``profile`` and back, with meeting precedence
    (profiles.automation.connectors.calendar)."""

    class Source(models.TextChoices):
        ICS = "ics", _("ICS address")
        CALDAV = "caldav", _("CalDAV account")

    class Match(models.TextChoices):
        BUSY = "busy", _("Every busy event")
        TITLE = "title", _("Events whose title contains a word")
        CATEGORY = "category", _("Events of a category")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendars", verbose_name=_("user")
    )
    profile = models.ForeignKey(
        PresenceProfile, on_delete=models.CASCADE, related_name="calendars", verbose_name=_("profile")
    )
    name = models.CharField(max_length=100, verbose_name=_("name"))
    # The secret address, encrypted (Fernet, key derived from SECRET_KEY);
    # only ``url_hint`` (host and the last characters) is ever shown.
    url_encrypted = models.TextField(verbose_name=_("address (encrypted)"))
    url_hint = models.CharField(max_length=160, verbose_name=_("address"))
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ICS, verbose_name=_("kind"))
    # CalDAV: the account's user name (shown) and password (encrypted like
    # the address, never shown again).
    username = models.CharField(max_length=200, blank=True, verbose_name=_("user name"))
    password_encrypted = models.TextField(blank=True, verbose_name=_("password (encrypted)"))
    match = models.CharField(max_length=16, choices=Match.choices, default=Match.BUSY, verbose_name=_("switch during"))
    match_value = models.CharField(max_length=100, blank=True, verbose_name=_("word or category"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    poll_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(5), MaxValueValidator(1440)], verbose_name=_("check every (minutes)")
    )
    etag = models.CharField(max_length=200, blank=True, verbose_name=_("ETag"))
    last_modified = models.CharField(max_length=100, blank=True, verbose_name=_("last modified"))
    # When ``intervals`` were last expanded from the calendar's body: an
    # unchanged calendar (304, same CTag) is read again before they run out.
    expanded_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expanded at"))
    # Matching events of the coming hours as [[start, end], …] (ISO, UTC).
    intervals = models.JSONField(default=list, blank=True, verbose_name=_("coming events"))
    in_event = models.BooleanField(default=False, verbose_name=_("in an event"))
    # The due-scan's two instants: the next event start/end, the next fetch.
    next_change_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next change at"))
    next_poll_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next check at"))
    status = models.TextField(blank=True, verbose_name=_("status"))
    checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("checked at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("calendar")
        verbose_name_plural = _("calendars")
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["next_change_at"], name="calendar_change_idx", condition=Q(enabled=True)),
            models.Index(fields=["next_poll_at"], name="calendar_poll_idx", condition=Q(enabled=True)),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"


class Selection(models.Model):
    """The user's current profile and why it is selected."""

    class Source(models.TextChoices):
        USER = "user", _("By hand")
        ADMIN = "admin", _("Administrator")
        TRIGGER = "trigger", _("Time trigger")
        MEETING = "meeting", _("Meeting")
        MEETING_END = "meeting_end", _("Meeting ended")
        CLEAR_AFTER = "clear_after", _("Timer ended")
        API = "api", _("API")
        SESSION_END = "session_end", _("Last client disconnected")
        SESSION_BACK = "session_back", _("Client connected again")
        SYSTEM = "system", _("System")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="selection",
        verbose_name=_("user"),
    )
    # The profile columns have no index: a switch then updates its row in
    # place (a HOT update: no index entry written for the moved profile), and
    # a profile's deletion checks (PROTECT, SET_NULL) read a table of one row
    # per user instead, a few milliseconds at 10,000 users.
    profile = models.ForeignKey(
        PresenceProfile, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("profile")
    )
    previous_profile = models.ForeignKey(
        PresenceProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("previous profile"),
    )
    since = models.DateTimeField(verbose_name=_("since"))
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.USER, verbose_name=_("source"))
    source_detail = models.CharField(max_length=200, blank=True, verbose_name=_("source detail"))
    prompt_values = models.JSONField(default=dict, blank=True, verbose_name=_("prompt values"))
    until = models.DateTimeField(
        null=True, blank=True, help_text=_("Clear-after: return to the previous profile then."), verbose_name=_("until")
    )
    # Only meaningful while source is "meeting": a meeting that interrupted
    # a clear-after timer keeps that timer's ``until`` and the profile the
    # timer returns to here, so it can resume after the meeting.
    until_profile = models.ForeignKey(
        PresenceProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("until profile"),
    )

    class Meta:
        verbose_name = _("selection")
        verbose_name_plural = _("selections")
        indexes = [models.Index(fields=["until"], name="selection_until_idx", condition=Q(until__isnull=False))]
        # Staff switching a set of users (office closure, fire drill): the
        # admin actions and the API (services.staff_switch).
        permissions = [("switch_users", "Can switch a set of users to a system profile")]

    def __str__(self) -> str:
        return f"{self.user}: {self.profile}"

    @property
    def source_label(self) -> str:
        """get_source_display() in a dictionary lookup (Django's builds a
        dictionary of the choices on every call, about 60 µs)."""
        return source_label(self.source)


class MeetingPresence(models.Model):
    """What a status connector last said about one user: the Graph user id
    it polls (Microsoft 365) and whether the user is in a meeting, so only
    changes (started / ended) act."""

    connector = models.ForeignKey(
        StatusConnector, on_delete=models.CASCADE, related_name="presences", verbose_name=_("connector")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meeting_presences", verbose_name=_("user")
    )
    external_id = models.CharField(
        max_length=64, blank=True, help_text=_("Graph user id (Microsoft 365)."), verbose_name=_("external id")
    )
    in_meeting = models.BooleanField(default=False, verbose_name=_("in meeting"))
    activity = models.CharField(max_length=64, blank=True, verbose_name=_("activity"))
    changed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("changed at"))

    class Meta:
        verbose_name = _("meeting presence")
        verbose_name_plural = _("meeting presences")
        constraints = [models.UniqueConstraint(fields=["connector", "user"], name="meeting_presence_once")]

    def __str__(self) -> str:
        return f"{self.user} via {self.connector}: {'in a meeting' if self.in_meeting else 'free'}"


class GraphSubscription(models.Model):
    """One Microsoft Graph presence subscription of a connector: the Graph
    ids it covers (at most 650), when Graph lets it lapse, and the
    clientState every notification of it must carry."""

    connector = models.ForeignKey(
        StatusConnector, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("connector")
    )
    subscription_id = models.CharField(max_length=64, unique=True, verbose_name=_("subscription id"))
    client_state = models.CharField(max_length=128, verbose_name=_("client state"))
    graph_ids = models.JSONField(default=list, verbose_name=_("Graph ids"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("Graph subscription")
        verbose_name_plural = _("Graph subscriptions")

    def __str__(self) -> str:
        return f"{self.connector}: {len(self.graph_ids)} users until {self.expires_at:%H:%M}"


class SwitchEvent(models.Model):
    """Audit of every switch: who or what caused it, old and new profile."""

    # No index of its own: switch_user_idx (user, -created_at) serves lookups by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="switch_events",
        db_index=False,
        verbose_name=_("user"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    source = models.CharField(max_length=16, choices=Selection.Source.choices, verbose_name=_("source"))
    source_detail = models.CharField(max_length=200, blank=True, verbose_name=_("source detail"))
    event = models.CharField(
        max_length=32,
        default="select",
        help_text=_("select, reapply, session, hot_desk, edit …"),
        verbose_name=_("event"),
    )
    old_profile = models.ForeignKey(
        PresenceProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("old profile"),
    )
    new_profile = models.ForeignKey(
        PresenceProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("new profile"),
    )
    old_name = models.CharField(max_length=64, blank=True, verbose_name=_("old name"))
    new_name = models.CharField(max_length=64, blank=True, verbose_name=_("new name"))
    prompt_values = models.JSONField(default=dict, blank=True, verbose_name=_("prompt values"))
    target_version = models.PositiveBigIntegerField(default=0, verbose_name=_("target version"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("switch event")
        verbose_name_plural = _("switch events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="switch_user_idx")]

    def __str__(self) -> str:
        return f"{self.user}: {self.old_name} → {self.new_name}"

    @property
    def source_label(self) -> str:
        return source_label(self.source)


class RecentValue(models.Model):
    """Recently used prompt values (forward targets, DND messages) per user."""

    class Kind(models.TextChoices):
        FORWARD = "forward", _("Forward target")
        DND_MESSAGE = "dnd_message", _("DND message")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recent_values", verbose_name=_("user")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    value = models.CharField(max_length=200, verbose_name=_("value"))
    last_used = models.DateTimeField(verbose_name=_("last used"))

    class Meta:
        verbose_name = _("recent value")
        verbose_name_plural = _("recent values")
        ordering = ["-last_used"]
        constraints = [models.UniqueConstraint(fields=["user", "kind", "value"], name="recent_value_unique")]

    def __str__(self) -> str:
        return self.value


class CatalogVersion(models.Model):
    """One row whose ``value`` changes with every write to what switching
    caches (profiles.catalog); set by database triggers, never by code."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, verbose_name=_("id"))
    value = models.BigIntegerField(default=0, verbose_name=_("value"))

    class Meta:
        verbose_name = _("catalog version")
        verbose_name_plural = _("catalog versions")

    def __str__(self) -> str:
        return f"catalog version {self.value}"


_SOURCE_LABELS = dict(Selection.Source.choices)


def source_label(source: str) -> str:
    """What a Selection.Source means, in the active language."""
    return str(_SOURCE_LABELS.get(source, source))
