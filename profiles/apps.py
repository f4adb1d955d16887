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
