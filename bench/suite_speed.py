"""The test suite then and now, on this machine (issue 15: "the suite is no
slower than today"): the suite as the issue found it (commit f835e67, run as
its ``./run test`` ran it: one process) against the same test functions
today, run as ``./run test`` runs them now (pytest-xdist, loadgroup).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_suite \\
    TEST_BROKER_URL=redis://127.0.0.1:6379/15 \\
    .venv/bin/python bench/suite_speed.py [--then f835e67] [--full]

``--full`` also times today's whole suite (``./run test``'s pytest). Needs
the git history (a clone, not an export); both runs use this checkout's
.venv. pytest-django makes its own test databases from DATABASE_URL's name.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def env() -> dict:
    # As ./run test: Python keeps its bytecode, the worker tests use the broker given.
    values = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    values["PATH"] = f"{ROOT / '.venv' / 'bin'}:{values.get('PATH', '')}"
    return values


def functions(tree: Path) -> set[str]:
    """The test functions of a tree (file::name, parametrisations folded)."""
    out = subprocess.run(
        [PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        cwd=tree,
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {re.sub(r"\[.*$", "", line) for line in out.splitlines() if "::" in line}


def timed(args: list[str], tree: Path) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run([PYTHON, "-m", "pytest", *args], cwd=tree, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = [line for line in run.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
        raise SystemExit(f"pytest failed in {tree}")
    return seconds, summary[-1].strip("= ") if summary else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--then", default="f835e67", help="the commit the issue was filed against")
    parser.add_argument("--full", action="store_true", help="also time today's whole suite")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database (and TEST_BROKER_URL to a Redis database).")
    scratch = Path(tempfile.mkdtemp(prefix="suite-then-"))
    then = scratch / "then"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(then), args.then], cwd=ROOT, check=True)
    try:
        (then / ".venv").symlink_to(ROOT / ".venv")
        common = sorted(functions(then) & functions(ROOT))
        print(f"test functions then: {len(functions(then))}, still here under the same name: {len(common)}")
        then_s, then_summary = timed(["-q", "-p", "no:cacheprovider"], then)
        print(f"then ({args.then}, one process, as its ./run test):  {then_s:6.1f} s  {then_summary}")
        now_args = ["-q", "-p", "no:cacheprovider", "--numprocesses", "logical", "--dist", "loadgroup"]
        now_s, now_summary = timed([*now_args, *common], ROOT)
        print(f"the same functions now (./run test's pytest):  {now_s:6.1f} s  {now_summary}")
        if args.full:
            full_s, full_summary = timed(now_args, ROOT)
            print(f"today's whole suite (./run test's pytest):     {full_s:6.1f} s  {full_summary}")
        print(f"same functions, now / then: {now_s / then_s:.2f}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(then)], cwd=ROOT, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
