"""The live events' replay buffer (docs/architecture.md#live)."""

from django.conf import settings
from django.db import models


class Event(models.Model):
    """One event of the stream, kept for a short while so a client that
    reconnects with Last-Event-ID gets what it missed. The id is the SSE id.
    ``owner`` set: a private event (apply results, mismatches) that only this
    user receives; empty: an event every signed-in user may see (presence,
    line state)."""

    kind = models.CharField(max_length=16)
    # No index of its own: live_event_owner_id (owner, id) serves lookups by owner.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "id"], name="live_event_owner_id")]

    def __str__(self) -> str:
        return f"{self.pk} {self.kind}"
