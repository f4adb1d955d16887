from django.core.management.base import BaseCommand

from profiles.events import reapply_everyone


class Command(BaseCommand):
    help = "Re-apply every user's selected profile (the service-start event of docs/rules.md#rule-4), in background batches."

    def handle(self, *args, **options):
        count = reapply_everyone(event="service_start", detail="service start")
        self.stdout.write(f"Re-apply of {count} users enqueued.")
