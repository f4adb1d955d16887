"""What the phone system has: extensions, destinations, teams, locations,
client sessions; and what the portal did to it: target states, apply runs,
mismatches. The simulated PBX keeps its actual device state here too."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from devices.validators import validate_extension_number, validate_number


class Extension(models.Model):
    class Kind(models.TextChoices):
        DEE_MAIN = "dee_main", _("DEE main device")
        SOFTPHONE = "softphone", _("Softphone")
        DESK = "desk", _("Desk phone")
        DECT = "dect", _("DECT handset")

    number = models.CharField(
        max_length=8, unique=True, validators=[validate_extension_number], verbose_name=_("number")
    )
    name = models.CharField(max_length=100, blank=True, verbose_name=_("name"))
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEE_MAIN, verbose_name=_("kind"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="extensions",
        verbose_name=_("owner"),
    )
    is_hot_desk = models.BooleanField(_("hot-desk device"), default=False)
    hot_desk_logged_in = models.BooleanField(
        _("hot-desk user logged in"), default=True, help_text=_("Only meaningful for hot-desk devices.")
    )

    class Meta:
        verbose_name = _("extension")
        verbose_name_plural = _("extensions")
        ordering = ["number"]
        permissions = [("hot_desk_extension", "Can log hot-desk users in and out")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}".strip()


class Destination(models.Model):
    """A DEE destination (Mitel) or FollowMe device (pascom) of a primary extension."""

    class Family(models.TextChoices):
        DESK = "desk", _("Desk phone")
        SOFTPHONE = "softphone", _("Softphone")
        MOBILE = "mobile", _("Mobile")
        DECT = "dect", _("DECT")
        EXTERNAL = "external", _("External")
        VOICEMAIL = "voicemail", _("Voicemail")

    extension = models.ForeignKey(
        Extension, on_delete=models.CASCADE, related_name="destinations", verbose_name=_("extension")
    )
    family = models.CharField(max_length=16, choices=Family.choices, verbose_name=_("family"))
    number = models.CharField(max_length=20, validators=[validate_number], verbose_name=_("number"))
    ring_delay = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(120)],
        help_text=_("Seconds before this destination rings."),
        verbose_name=_("ring delay"),
    )
    ring_timeout = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(300)],
        help_text=_("Seconds this destination rings."),
        verbose_name=_("ring timeout"),
    )
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        verbose_name = _("destination")
        verbose_name_plural = _("destinations")
        ordering = ["extension", "position", "id"]

    def __str__(self) -> str:
        return f"{self.get_family_display()} {self.number}"


class Team(models.Model):
    """A UCD group (Mitel) or team / call queue (pascom)."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    queue = models.SlugField(
        max_length=64,
        unique=True,
        help_text=_("The queue's name on the phone system, e.g. sales."),
        verbose_name=_("queue"),
    )
    members = models.ManyToManyField(Extension, blank=True, related_name="teams", verbose_name=_("members"))

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    """A hot-desk workplace (Mitel) or location / workspace (pascom)."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClientSession(models.Model):
    """A desktop client connected to a softphone: the profile applies there too (docs/rules.md#rule-6).

    Sessions opened through the API carry the client's id, name and version
    and must heartbeat: ``expires_at`` moves forward with each heartbeat, and
    the due-scan ends sessions whose time has passed (as at disconnect).
    Sessions without ``expires_at`` (the phone page) never expire."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_sessions", verbose_name=_("user")
    )
    extension = models.OneToOneField(
        Extension, on_delete=models.CASCADE, related_name="client_session", verbose_name=_("extension")
    )
    connected_at = models.DateTimeField(auto_now_add=True, verbose_name=_("connected at"))
    # db_default: rows written without the ORM (the phone page's sessions
    # predate these columns; raw SQL in tests) need no value.
    client_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text=_("Chosen by the client, stable across restarts."),
        verbose_name=_("client id"),
    )
    client_name = models.CharField(max_length=100, blank=True, default="", db_default="", verbose_name=_("client name"))
    client_version = models.CharField(
        max_length=40, blank=True, default="", db_default="", verbose_name=_("client version")
    )
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last heartbeat at"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))

    class Meta:
        verbose_name = _("client session")
        verbose_name_plural = _("client sessions")
        indexes = [
            models.Index(
                fields=["expires_at"], name="clientsession_expiry_idx", condition=models.Q(expires_at__isnull=False)
            )
        ]
        permissions = [("disconnect_clientsession", "Can disconnect client sessions")]

    def __str__(self) -> str:
        return f"{self.user} on {self.extension}"


class TargetState(models.Model):
    """A user's desired device state with a version; the converge task drives
    the devices towards the latest version."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="target_state",
        verbose_name=_("user"),
    )
    version = models.PositiveBigIntegerField(default=0, verbose_name=_("version"))
    state = models.JSONField(default=dict, verbose_name=_("state"))
    applied_version = models.PositiveBigIntegerField(default=0, verbose_name=_("applied version"))
    applied_state = models.JSONField(
        default=dict, help_text=_("The desired state last applied in full."), verbose_name=_("applied state")
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    error_permanent = models.BooleanField(default=False, verbose_name=_("error permanent"))
    # A target that used up its task's transient retries is tried again by
    # the sweep at retry_at (capped exponential backoff, retry_count so far).
    # db_default: the switching core inserts targets with raw SQL (profiles.services.switching).
    retry_count = models.PositiveSmallIntegerField(default=0, db_default=0, verbose_name=_("retries so far"))
    retry_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next retry at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("target state")
        verbose_name_plural = _("target states")
        indexes = [
            models.Index(fields=["updated_at"], name="target_pending_idx", condition=models.Q(status="pending")),
            models.Index(
                fields=["retry_at"],
                name="target_retry_idx",
                condition=models.Q(status="failed", error_permanent=False),
            ),
        ]
        # Admin actions no model permission fits (a view-only staff user may look, not act).
        permissions = [
            ("reapply_profiles", "Can re-apply profiles"),
            ("reconcile_devices", "Can check devices for mismatches"),
        ]

    def __str__(self) -> str:
        return f"{self.user} v{self.version} ({self.status})"


class ApplyRun(models.Model):
    """One run of the converge task for one user (audit)."""

    class Result(models.TextChoices):
        APPLIED = "applied", _("Applied")
        NOTHING = "nothing", _("Nothing to change")
        RETRYING = "retrying", _("Transient error, retrying")
        FAILED = "failed", _("Failed")
        SUPERSEDED = "superseded", _("Superseded by a newer target")

    # No index of its own: applyrun_user_idx (user, -started_at) serves lookups by user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="apply_runs",
        db_index=False,
        verbose_name=_("user"),
    )
    target_version = models.PositiveBigIntegerField(verbose_name=_("target version"))
    reason = models.CharField(max_length=32, blank=True, verbose_name=_("reason"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))
    result = models.CharField(max_length=16, choices=Result.choices, verbose_name=_("result"))
    error = models.TextField(blank=True, verbose_name=_("error"))

    class Meta:
        verbose_name = _("apply run")
        verbose_name_plural = _("apply runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "-started_at"], name="applyrun_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} v{self.target_version}: {self.result}"


class ApplyStep(models.Model):
    run = models.ForeignKey(ApplyRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("run"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    extension = models.CharField(max_length=8, verbose_name=_("extension"))
    op = models.CharField(max_length=32, verbose_name=_("op"))
    args = models.JSONField(default=dict, verbose_name=_("args"))
    description = models.CharField(max_length=200, verbose_name=_("description"))
    ok = models.BooleanField(verbose_name=_("ok"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))

    class Meta:
        verbose_name = _("apply step")
        verbose_name_plural = _("apply steps")
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return self.description


class Mismatch(models.Model):
    """A field where a device differs from the last applied profile (docs/rules.md#rule-5).
    Shown to the user; never overwritten by the portal."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mismatches", verbose_name=_("user")
    )
    extension = models.CharField(max_length=8, verbose_name=_("extension"))
    op = models.CharField(max_length=32, help_text=_("The command that would fix it."), verbose_name=_("op"))
    args = models.JSONField(default=dict, verbose_name=_("args"))
    description = models.CharField(max_length=200, verbose_name=_("description"))
    detected_at = models.DateTimeField(verbose_name=_("detected at"))

    class Meta:
        verbose_name = _("mismatch")
        verbose_name_plural = _("mismatches")
        ordering = ["user", "extension", "id"]

    def __str__(self) -> str:
        return self.description


class SimulatedDevice(models.Model):
    """The simulated PBX's actual state of one extension (embedded default driver).

    ``fault`` lets tests and demos make the PBX fail: "transient" fails the
    next ``fault_count`` writes with a retryable error, "permanent" fails
    every write until cleared.
    """

    class Fault(models.TextChoices):
        NONE = "", _("None")
        TRANSIENT = "transient", _("Transient (retryable)")
        PERMANENT = "permanent", _("Permanent")

    extension = models.OneToOneField(
        Extension, on_delete=models.CASCADE, primary_key=True, related_name="simulated", verbose_name=_("extension")
    )
    state = models.JSONField(default=dict, verbose_name=_("state"))
    fault = models.CharField(
        max_length=16, choices=Fault.choices, default=Fault.NONE, blank=True, verbose_name=_("fault")
    )
    fault_count = models.PositiveIntegerField(default=0, verbose_name=_("fault count"))
    # The phone's call state as a device state (NOT_INUSE, RINGING, INUSE,
    # ONHOLD, UNAVAILABLE): the simulated handset places and ends calls.
    line = models.CharField(max_length=16, default="NOT_INUSE", verbose_name=_("line"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("simulated device")
        verbose_name_plural = _("simulated devices")
        permissions = [("operate_simulated_phone", "Can operate simulated phones")]

    def __str__(self) -> str:
        return f"simulated {self.extension}"


class LineState(models.Model):
    """What an extension's line is doing now (ringing, on a call …), as the
    PBX event listener last saw it. Colleagues see it next to presence."""

    class State(models.TextChoices):
        IDLE = "idle", _("idle")
        RINGING = "ringing", _("ringing")
        ON_CALL = "on_call", _("on a call")
        ON_HOLD = "on_hold", _("on hold")
        UNAVAILABLE = "unavailable", _("unavailable")

    extension = models.OneToOneField(
        Extension, on_delete=models.CASCADE, primary_key=True, related_name="line", verbose_name=_("extension")
    )
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.UNAVAILABLE, verbose_name=_("line state")
    )
    # the board's ETag takes the latest
    changed_at = models.DateTimeField(db_index=True, verbose_name=_("changed at"))

    class Meta:
        verbose_name = _("line state")
        verbose_name_plural = _("line states")

    ICONS = {
        State.IDLE: "phone",
        State.RINGING: "phone-incoming",
        State.ON_CALL: "phone-call",
        State.ON_HOLD: "pause",
        State.UNAVAILABLE: "phone-off",
    }

    def __str__(self) -> str:
        return f"{self.extension_id}: {self.state}"

    @property
    def icon(self) -> str:
        return self.ICONS.get(self.state, "phone")


class PbxEvent(models.Model):
    """The simulated PBX's event stream: what Asterisk's manager would send
    to a listener logged in with events on (same event names and fields).
    The simulated listener reads it in id order and deletes what it read."""

    fields = models.JSONField(
        help_text=_("The event’s fields, e.g. {'Event': 'DeviceStateChange', …}."), verbose_name=_("fields")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("PBX event")
        verbose_name_plural = _("PBX events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.pk}: {self.fields.get('Event', '?')}"


class ListenerStatus(models.Model):
    """The PBX event listener's health, one row per PBX, written by the
    running listener; shown read-only in the admin."""

    class State(models.TextChoices):
        CONNECTED = "connected", _("connected")
        DISCONNECTED = "disconnected", _("disconnected")
        STOPPED = "stopped", _("stopped")

    pbx = models.CharField(
        max_length=100,
        unique=True,
        help_text=_("Which phone system, e.g. asterisk 10.0.0.5:5038."),
        verbose_name=_("phone system"),
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.DISCONNECTED, verbose_name=_("state"))
    connected_since = models.DateTimeField(null=True, blank=True, verbose_name=_("connected since"))
    last_event_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last event at"))
    last_event = models.CharField(max_length=200, blank=True, verbose_name=_("last event"))
    last_error_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last error at"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))
    events_processed = models.PositiveBigIntegerField(default=0, verbose_name=_("events processed"))
    process = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("host:pid of the listener holding the lock."),
        verbose_name=_("process"),
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("heartbeat at"))

    class Meta:
        verbose_name = _("PBX listener status")
        verbose_name_plural = _("PBX listener status")

    def __str__(self) -> str:
        return f"{self.pbx}: {self.state}"
