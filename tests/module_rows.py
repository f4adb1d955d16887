"""Rows a whole test module starts from, made once per module and test
process instead of before each test.

``yield from rows_for_the_module(django_db_blocker, tmp_path_factory, make)``
in a module-scoped fixture: ``make()`` runs in a transaction that stays open
while the module's tests run and is rolled back after the last one. Each
test runs in pytest-django's test transaction, which is then a savepoint
inside it: the test's writes are rolled back with that savepoint, so every
test starts from the rows as ``make()`` left them, as when it made them
itself. Only for modules whose tests are all in the default (not
transactional) test case: a transactional test would commit inside it.

``make()`` runs as in a test: Celery eager, its on-commit callbacks run when
it returns (``commit=True``, as django_capture_on_commit_callbacks(execute=True)
would), a cache of its own. It should return plain values (primary keys):
each test fetches fresh objects."""

from __future__ import annotations

import sys

from django.db import transaction
from django.test import TestCase, override_settings


def rows_for_the_module(django_db_blocker, tmp_path_factory, make, *, commit: bool = False):
    from celery._state import _set_task_join_will_block

    from portal.celery import app

    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path_factory.mktemp("module-cache")),
        }
    }
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        eager = app.conf.task_always_eager
        try:
            with override_settings(CELERY_TASK_ALWAYS_EAGER=True, CACHES=cache):
                _set_task_join_will_block(False)
                app.conf.task_always_eager = True
                if commit:
                    with TestCase.captureOnCommitCallbacks(execute=True):
                        made = make()
                else:
                    made = make()
        except BaseException:
            outer.__exit__(*sys.exc_info())
            raise
        finally:
            app.conf.task_always_eager = eager
    yield made
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)
