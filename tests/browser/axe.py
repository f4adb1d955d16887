"""axe-core in the browser tests: `assert_accessible(page)` checks the page
as it is now (a dialog open, a form loaded, a preview shown) at 1280 and at
390 px wide against WCAG 2.0, 2.1 and 2.2 levels A and AA plus axe's best
practices. axe-core comes inside the axe-playwright-python package (nothing
is downloaded at run time).

The portal's own pages must have no violation at all; the Django admin pages
we customise (admin=True) must have none of impact critical or serious."""

from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import DESKTOP, PHONE

AXE = Axe()
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
# preload off: axe would otherwise fetch the page's stylesheets and insert them
# as inline <style> for its CSSOM rule (css-orientation-lock, experimental, not
# among these tags); the portal's Content-Security-Policy refuses that, and
# every browser test fails on a CSP violation.
OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"], "preload": False}
WIDTHS = {"1280 px": DESKTOP, "390 px": PHONE}
SEVERE = {"critical", "serious"}


def axe_violations(page, *, admin: bool = False) -> list[dict]:
    """The violations axe finds in the page as it is (at its current width).
    axe-core (half a megabyte of script) is put into a document once, not
    before every run as Axe.run does: the second width of a page, and a
    dialog opened on it, reuse it."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.axe_script)
    violations = page.evaluate("options => axe.run(document, options)", OPTIONS)["violations"]
    if admin:
        violations = [v for v in violations if v["impact"] in SEVERE]
    return violations


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html'][:160]}")
    return "\n".join(lines)


def assert_accessible(page, *, admin: bool = False) -> None:
    """axe at 1280 and at 390 px on the current state of the page; the page
    is given back at the width it had."""
    before = page.viewport_size
    found = {}
    try:
        for label, viewport in WIDTHS.items():
            page.set_viewport_size(viewport)
            # One frame for the layout of the new width (media queries).
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            violations = axe_violations(page, admin=admin)
            if violations:
                found[label] = describe(violations)
    finally:
        page.set_viewport_size(before)
    report = "\n".join(f"axe at {label} on {page.url}:\n{text}" for label, text in found.items())
    assert not found, report
