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
        DEE_MAIN = "dee_main", "DEE main device"
        SOFTPHONE = "softphone", "Softphone"
        DESK = "desk", "Desk phone"
        DECT = "dect", "DECT handset"

    number = models.CharField(max_length=8, unique=True, validators=[validate_extension_number])
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEE_MAIN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="extensions"
    )
    is_hot_desk = models.BooleanField("hot-desk device", default=False)
    hot_desk_logged_in = models.BooleanField(
        "hot-desk user logged in", default=True, help_text="Only meaningful for hot-desk devices."
    )

    class Meta:
        ordering = ["number"]
        permissions = [("hot_desk_extension", "Can log hot-desk users in and out")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}".strip()


class Destination(models.Model):
    """A DEE destination (Mitel) or FollowMe device (pascom) of a primary extension."""

    class Family(models.TextChoices):
        DESK = "desk", "Desk phone"
        SOFTPHONE = "softphone", "Softphone"
        MOBILE = "mobile", "Mobile"
        DECT = "dect", "DECT"
        EXTERNAL = "external", "External"
        VOICEMAIL = "voicemail", "Voicemail"

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="destinations")
    family = models.CharField(max_length=16, choices=Family.choices)
    number = models.CharField(max_length=20, validators=[validate_number])
    ring_delay = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(120)], help_text="Seconds before this destination rings."
    )
    ring_timeout = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(300)],
        help_text="Seconds this destination rings.",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["extension", "position", "id"]

    def __str__(self) -> str:
        return f"{self.get_family_display()} {self.number}"


class Team(models.Model):
    """A UCD group (Mitel) or team / call queue (pascom)."""

    name = models.CharField(max_length=100, unique=True)
    queue = models.SlugField(max_length=64, unique=True, help_text="The queue's name on the phone system, e.g. sales.")
    members = models.ManyToManyField(Extension, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    """A hot-desk workplace (Mitel) or location / workspace (pascom)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClientSession(models.Model):
    """A desktop client connected to a softphone: the profile applies there too (docs/rules.md#rule-6).

    Sessions opened through the API carry the client's id, name and version
    and must heartbeat: ``expires_at`` moves forward with each heartbeat, and
    the due-scan ends sessions whose time has passed (as at disconnect).
    Sessions without ``expires_at`` (the phone page) never expire."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="client_sessions")
    extension = models.OneToOneField(Extension, on_delete=models.CASCADE, related_name="client_session")
    connected_at = models.DateTimeField(auto_now_add=True)
    # db_default: rows written without the ORM (the phone page's sessions
    # predate these columns; raw SQL in tests) need no value.
    client_id = models.CharField(
        max_length=64, blank=True, default="", db_default="", help_text="Chosen by the client, stable across restarts."
    )
    client_name = models.CharField(max_length=100, blank=True, default="", db_default="")
    client_version = models.CharField(max_length=40, blank=True, default="", db_default="")
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="target_state"
    )
    version = models.PositiveBigIntegerField(default=0)
    state = models.JSONField(default=dict)
    applied_version = models.PositiveBigIntegerField(default=0)
    applied_state = models.JSONField(default=dict, help_text="The desired state last applied in full.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    error_permanent = models.BooleanField(default=False)
    # A target that used up its task's transient retries is tried again by
    # the sweep at retry_at (capped exponential backoff, retry_count so far).
    # db_default: the switching core inserts targets with raw SQL (profiles.services.switching).
    retry_count = models.PositiveSmallIntegerField(default=0, db_default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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
        APPLIED = "applied", "Applied"
        NOTHING = "nothing", "Nothing to change"
        RETRYING = "retrying", "Transient error, retrying"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded by a newer target"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="apply_runs")
    target_version = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    result = models.CharField(max_length=16, choices=Result.choices)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "-started_at"], name="applyrun_user_idx")]

    def __str__(self) -> str:
        return f"{self.user} v{self.target_version}: {self.result}"


class ApplyStep(models.Model):
    run = models.ForeignKey(ApplyRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    extension = models.CharField(max_length=8)
    op = models.CharField(max_length=32)
    args = models.JSONField(default=dict)
    description = models.CharField(max_length=200)
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return self.description


class Mismatch(models.Model):
    """A field where a device differs from the last applied profile (docs/rules.md#rule-5).
    Shown to the user; never overwritten by the portal."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mismatches")
    extension = models.CharField(max_length=8)
    op = models.CharField(max_length=32, help_text="The command that would fix it.")
    args = models.JSONField(default=dict)
    description = models.CharField(max_length=200)
    detected_at = models.DateTimeField()

    class Meta:
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
        NONE = "", "None"
        TRANSIENT = "transient", "Transient (retryable)"
        PERMANENT = "permanent", "Permanent"

    extension = models.OneToOneField(Extension, on_delete=models.CASCADE, primary_key=True, related_name="simulated")
    state = models.JSONField(default=dict)
    fault = models.CharField(max_length=16, choices=Fault.choices, default=Fault.NONE, blank=True)
    fault_count = models.PositiveIntegerField(default=0)
    # The phone's call state as a device state (NOT_INUSE, RINGING, INUSE,
    # ONHOLD, UNAVAILABLE): the simulated handset places and ends calls.
    line = models.CharField(max_length=16, default="NOT_INUSE")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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

    extension = models.OneToOneField(Extension, on_delete=models.CASCADE, primary_key=True, related_name="line")
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNAVAILABLE)
    changed_at = models.DateTimeField(db_index=True)  # the board's ETag takes the latest

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

    fields = models.JSONField(help_text="The event's fields, e.g. {'Event': 'DeviceStateChange', …}.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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

    pbx = models.CharField(max_length=100, unique=True, help_text=_("Which phone system, e.g. asterisk 10.0.0.5:5038."))
    state = models.CharField(max_length=16, choices=State.choices, default=State.DISCONNECTED)
    connected_since = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_event = models.CharField(max_length=200, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    events_processed = models.PositiveBigIntegerField(default=0)
    process = models.CharField(max_length=100, blank=True, help_text=_("host:pid of the listener holding the lock."))
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("PBX listener status")
        verbose_name_plural = _("PBX listener status")

    def __str__(self) -> str:
        return f"{self.pbx}: {self.state}"
