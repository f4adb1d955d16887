"""``manage.py makemessages``: Django's command with this project's fixed
options, so that every developer produces the same catalogue and parallel
additions merge cleanly: no source locations (they change with every edit),
entries sorted by msgid (stable whatever order files are read in), no
obsolete entries, only the project's own code (not .venv, tests, bench).

    python manage.py makemessages -l de      # then fill in every new msgstr
"""

import re
from pathlib import Path

from django.conf import settings
from django.core.management.commands import makemessages

SORT = ["--sort-output"]
IGNORED = [".venv", "var", "staticfiles", "test-artifacts", "tests", "bench", "docs", "node_modules"]


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, *SORT]
    msguniq_options = [*makemessages.Command.msguniq_options, *SORT]
    msgattrib_options = [*makemessages.Command.msgattrib_options, *SORT]
    xgettext_options = [*makemessages.Command.xgettext_options, *SORT]

    def handle(self, *args, **options):
        options["no_location"] = True
        options["add_location"] = None
        options["no_obsolete"] = True
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        if not options.get("locale") and not options.get("all"):
            options["locale"] = ["de"]
        super().handle(*args, **options)
        for po in Path(settings.LOCALE_PATHS[0]).glob("*/LC_MESSAGES/django.po"):
            drop_dates(po)


# gettext stamps the time of every run into the header: every developer's
# run would then conflict with every other's on that line.
_DATES = re.compile(r'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"\n', re.M)


def drop_dates(po: Path) -> None:
    text = po.read_text(encoding="utf-8")
    po.write_text(_DATES.sub("", text), encoding="utf-8")
