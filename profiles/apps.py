from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Presence profiles")

    def ready(self) -> None:
        # devices never imports profiles; the device events reach the
        # profile side through this registration (devices/hooks.py).
        from devices import hooks
        from profiles import device_hooks

        hooks.register(device_hooks.PROFILE_SIDE)
        # Session triggers follow client sessions (profiles.events).
        from profiles import events
        from profiles.automation import sessions

        events.listen_to_client_sessions(sessions.clients_changed)
        # SQLite loses the catalog's triggers when a migration rebuilds a table.
        from django.db.models.signals import post_migrate

        post_migrate.connect(_ensure_catalog_triggers, sender=self)


def _ensure_catalog_triggers(sender, using="default", **kwargs) -> None:
    from django.db import connections

    from profiles.catalog import ensure_sqlite_triggers

    ensure_sqlite_triggers(connections[using])
