from django.core.management.base import BaseCommand

from profiles.seeding import seed_defaults


class Command(BaseCommand):
    help = "Create the two system profiles and the template of the six per-user defaults where missing. Idempotent."

    def handle(self, *args, **options) -> None:
        seed_defaults()
        self.stdout.write(self.style.SUCCESS("System profiles and the default template are in place."))
