"""The user's own devices (actual next to what the profile implies) and
history (switches and apply runs)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from devices.state import Command
from profiles import selectors
from profiles.views.common import page, with_account

HISTORY_PAGE_SIZE = 20


@login_required
@with_account
@require_GET
def devices(request: HttpRequest) -> HttpResponse:
    context = selectors.my_devices(request.user, request.account)
    context["account"] = request.account
    # The simulated PBX's handset page is where a newcomer tries a change
    # made on a phone; a real PBX has real handsets.
    context["simulated"] = settings.PBX_DRIVER == "simulated"
    return page(request, "profiles/devices.html", context, "devices")


@login_required
@with_account
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    events = Paginator(selectors.switch_events(request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("events"))
    runs = Paginator(selectors.apply_runs(request.user), HISTORY_PAGE_SIZE).get_page(request.GET.get("runs"))
    commands = {step.pk: Command(step.extension, step.op, step.args) for run in runs for step in run.steps.all()}
    names = selectors.command_names(commands.values())
    for run in runs:
        # Steps described with today's names (a stored text may have ids).
        run.step_list = [
            (step, selectors.command_text(commands[step.pk], names, step.description)) for step in run.steps.all()
        ]
    context = {"events": events, "runs": runs}
    partial = "runs" if request.GET.get("runs") and not request.GET.get("events") else "events"
    if not request.htmx:
        partial = "history"
    return page(request, "profiles/history.html", context, partial)
