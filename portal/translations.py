"""Compile the translation catalogues (locale/<lang>/LC_MESSAGES/*.po ->
.mo) in pure Python with Babel, so that ``./run`` and ``./run test`` work on
a machine without GNU gettext's msgfmt. The .mo files are build output
(ignored by git) and are compiled afresh at every start and test run, so a
stale one cannot be used.

    python -m portal.translations        # what ./run and ./run test do
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def compile_catalogues(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Write a .mo next to every .po (fuzzy entries are left out, as msgfmt
    does); returns the files written."""
    written = []
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        locale = po_path.parent.parent.name
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=locale, abort_invalid=True)
        mo_path = po_path.with_suffix(".mo")
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        tmp.replace(mo_path)  # atomic: a running server never reads half a file
        written.append(mo_path)
    return written


def main() -> int:
    for path in compile_catalogues():
        print(f"compiled {path.relative_to(LOCALE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
