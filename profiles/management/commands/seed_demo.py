from django.core.management.base import BaseCommand

from profiles.demo import logins, seed_demo


class Command(BaseCommand):
    help = "Create the demo company (users, extensions, teams, locations, profiles). Idempotent."

    def handle(self, *args, **options) -> None:
        seed_demo()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (user / password):"))
        for username, password, what in logins():
            self.stdout.write(f"  {username:<8} / {password:<14} {what}")
