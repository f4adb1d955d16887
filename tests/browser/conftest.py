"""Browser tests: Playwright (sync API) driving Debian's Chromium against
pytest-django's live server. Celery runs eagerly (tests/conftest.py), so a
switch converges on commit inside the server thread."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect, sync_playwright

# expect() waits 5 s by default; the pages' polls and a loaded 2-core CI
# machine need the same 10 s the contexts allow for actions.
expect.set_options(timeout=10_000)

# Playwright's sync API runs an event loop in this thread; Django's
# async-safety check would refuse the ORM calls the tests make beside it.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to test-artifacts/ (ignored by git) so a test run leaves the
# checkout clean; PORTAL_SCREENSHOTS=docs/screenshots refreshes the README's.
SCREENSHOTS = ROOT / os.environ.get("PORTAL_SCREENSHOTS", "test-artifacts/screenshots")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# What Chromium reports on the console when the Content-Security-Policy
# refuses something (an inline style or script, eval, a foreign origin).
CSP_VIOLATIONS: list[str] = []


def _watch_console(message) -> None:
    if "Content Security Policy" in message.text:
        CSP_VIOLATIONS.append(f"{message.page.url if message.page else '?'}: {message.location} {message.text[:300]}")


class WatchedBrowser:
    """The browser, whose every new context reports CSP violations to
    CSP_VIOLATIONS; a browser test fails on any (no_csp_violation)."""

    def __init__(self, browser):
        self._browser = browser

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.on("console", _watch_console)
        return context

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture(scope="session")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield WatchedBrowser(browser)
        browser.close()


@pytest.fixture(autouse=True)
def no_csp_violation():
    """Every browser test runs with the portal's Content-Security-Policy on
    and fails when the browser refused anything under it."""
    CSP_VIOLATIONS.clear()
    yield
    found, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    assert found == [], "Content-Security-Policy violations in the browser console"


@pytest.fixture
def open_page(chromium, live_server):
    """open_page(user, viewport=DESKTOP, path="/"): a logged-in browser page
    on ``path`` (the home page unless the test starts elsewhere: a page load
    in Chromium costs about 0.3 CPU-seconds, so none is made only to be left).
    The session is made by the test client's force_login and
    handed to the browser as its cookie (about 0.3 s less per test than
    the form on a busy machine); ``form=True`` logs in through the real
    login form instead (test_pages keeps one test that does)."""
    contexts = []

    def _open(user, viewport=DESKTOP, *, form=False, path="/"):
        context = chromium.new_context(viewport=viewport, device_scale_factor=1)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        if form:
            page.goto(live_server.url + "/accounts/login/")
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill("pw-" + user.username)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(live_server.url + "/")
            if path != "/":
                page.goto(live_server.url + path)
            return page
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
        page.goto(live_server.url + path)
        return page

    yield _open
    for context in contexts:
        context.close()


def shoot(page, name: str) -> None:
    """Save a screenshot (SCREENSHOTS/<name>.png; the README shows docs/screenshots)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret would inject an inline style, which
    # the portal's Content-Security-Policy refuses (and no_csp_violation reports).
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False, caret="initial")
