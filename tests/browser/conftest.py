"""Browser tests: Playwright (sync API) driving Debian's Chromium against
pytest-django's live server. Celery runs eagerly (tests/conftest.py), so a
switch converges on commit inside the server thread."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

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


@pytest.fixture(scope="session")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, live_server):
    """open_page(user, viewport=DESKTOP): a logged-in browser page (logs in
    through the real login form)."""
    contexts = []

    def _open(user, viewport=DESKTOP):
        context = chromium.new_context(viewport=viewport, device_scale_factor=1)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("pw-" + user.username)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(live_server.url + "/")
        return page

    yield _open
    for context in contexts:
        context.close()


def shoot(page, name: str) -> None:
    """Save a screenshot (SCREENSHOTS/<name>.png; the README shows docs/screenshots)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
