"""The portal's dialplan (devices/templates/asterisk/extensions_portal.conf,
rendered by devices.dialplan): the Asterisk driver writes a profile over
the wire to the fake AMI peer, then the rendered dialplan is run on that
AstDB (tests/dialplan.py) to see what a call does: which destinations ring,
after which delay and for how long, GSM mode, location, team pickup, DND
and forward."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from devices.dialplan import render
from devices.drivers.asterisk import AsteriskDriver
from devices.models import Destination, Location
from devices.state import Command
from profiles.services import select_profile
from tests.ami_server import FakeAsterisk
from tests.dialplan import Dialplan
from tests.factories import make_user, profile_named

# Each switch's converge runs on commit, inside `committed()`.
pytestmark = pytest.mark.django_db


@pytest.fixture
def pbx(settings):
    fake = FakeAsterisk(login_delay=0.05).start()
    settings.PBX_DRIVER = "asterisk"
    settings.AMI_HOST = "127.0.0.1"
    settings.AMI_PORT = fake.port
    settings.AMI_SECRET = "portalsecret"
    settings.AMI_TIMEOUT = 2
    yield fake
    fake.stop()


@pytest.fixture
def alice(pbx, committed):
    with committed():
        return make_user("alice", "1000", teams=["Sales"])  # "In the office" applied over AMI


def dest(number: str, family: str) -> Destination:
    return Destination.objects.get(extension__number=number, family=family)


def legs(call) -> dict[str, str]:
    """Each ringing leg's target,delay,timeout, by destination family."""
    families = dict(Destination.objects.values_list("pk", "family"))
    ring = call.variables.get("RING", "")
    ids = [part.split("@")[0].removeprefix("Local/") for part in ring.split("&") if part]
    return {families[int(i)]: call.variables[f"PORTAL_LEG_{i}"] for i in ids}


def run(pbx, number: str = "1000", context: str = "portal-ext", caller: str = ""):
    return Dialplan(render(), pbx).call(context, number, caller=caller)


def test_in_the_office_rings_every_destination_then_voicemail(pbx, alice):
    call = run(pbx)
    assert legs(call) == {
        "desk": "PJSIP/10001,0,20",
        "softphone": "PJSIP/10002,0,20",
        "mobile": "PJSIP/1000-app,0,20",
        "external": "Local/+493012345678@from-internal/n,0,20",
    }
    assert call.dials() == [f"{call.variables['RING']},20"]
    assert call.did("VoiceMail") == ["1000@default,u"]  # nobody answered


def test_out_of_the_office_rings_only_the_external_destination_and_no_voicemail(pbx, alice, committed):
    with committed():
        select_profile(user=alice, profile=profile_named(alice, "Out of the office"))
    call = run(pbx)
    assert list(legs(call)) == ["external"]
    assert call.did("VoiceMail") == []
    assert call.did("Hangup") == ["17"]


def test_in_a_meeting_dnd_sends_callers_to_voicemail_busy(pbx, alice, committed):
    with committed():
        select_profile(user=alice, profile=profile_named(alice, "In a meeting"))
    call = run(pbx)
    assert call.dials() == []
    assert call.did("VoiceMail") == ["1000@default,b"]


def test_dnd_with_voicemail_inactive_is_busy(pbx, alice):
    voicemail = dest("1000", "voicemail")
    AsteriskDriver().apply(
        [
            Command("1000", "set_dnd", {"on": True}),
            Command("1000", "set_destination", {"destination": voicemail.pk, "active": False}),
        ]
    )
    call = run(pbx)
    assert (call.did("VoiceMail"), call.did("Busy")) == ([], ["20"])


def test_a_forward_dials_the_target(pbx, alice):
    AsteriskDriver().apply([Command("1000", "set_forward", {"target": "+4930999"})])
    assert run(pbx).dials() == ["Local/+4930999@from-internal/n"]


def test_ring_delay_and_timeout_make_a_followme_ring(pbx, alice):
    mobile = dest("1000", "mobile")
    AsteriskDriver().apply(
        [Command("1000", "set_destination", {"destination": mobile.pk, "ring_delay": 15, "ring_timeout": 30})]
    )
    call = run(pbx)
    assert legs(call)["mobile"] == "PJSIP/1000-app,15,30"
    assert legs(call)["desk"] == "PJSIP/10001,0,20"
    assert call.dials() == [f"{call.variables['RING']},45"]  # the longest leg: 15 s wait + 30 s ring
    # The leg itself: waits its delay, then rings for its timeout.
    leg = Dialplan(render(), pbx)
    leg_call = leg.call("portal-leg", str(mobile.pk), variables={f"PORTAL_LEG_{mobile.pk}": legs(call)["mobile"]})
    assert (leg_call.did("Wait"), leg_call.dials()) == (["15"], ["PJSIP/1000-app,30"])


def test_admin_delay_and_timeout_apply_when_the_profile_sets_none(pbx, alice):
    desk = dest("1000", "desk")
    Destination.objects.filter(pk=desk.pk).update(ring_delay=5, ring_timeout=25)
    assert legs(run(pbx))["desk"] == "PJSIP/10001,5,25"


def test_gsm_mode_rings_the_mobiles_gsm_number_instead_of_the_app(pbx, alice):
    AsteriskDriver().apply([Command("1000", "set_gsm", {"on": True})])
    assert legs(run(pbx))["mobile"] == "Local/+4915112345678@from-internal/n,0,20"
    AsteriskDriver().apply([Command("1000", "set_gsm", {"on": False})])
    assert legs(run(pbx))["mobile"] == "PJSIP/1000-app,0,20"


def test_a_location_rings_its_desk_phone_instead_of_the_own_desk(pbx, alice):
    desk2 = Location.objects.create(name="Berlin, desk 2")
    AsteriskDriver().apply([Command("1000", "set_location", {"location": desk2.pk})])
    call = run(pbx)
    assert legs(call)["desk"] == f"PJSIP/location{desk2.pk},0,20"
    assert legs(call)["softphone"] == "PJSIP/10002,0,20"  # only the desk phone moves


def test_team_pickup_follows_the_portal_key_per_team(pbx, alice):
    make_user("bob", "1001", teams=["Support"])
    # Alice is logged in to Sales ("In the office"): pickup on.
    assert run(pbx, "*8sales", "portal-pickup", caller="1000").did("Pickup") == ["sales@PICKUPMARK"]
    # Bob is not in Sales: refused.
    refused = run(pbx, "*8sales", "portal-pickup", caller="1001")
    assert (refused.did("Pickup"), refused.did("Playback")) == ([], ["feature-not-avail-line"])
    # Pickup off for Sales while still logged in: refused.
    team = alice.account.primary_extension.teams.get()
    AsteriskDriver().apply([Command("1000", "set_pickup", {"team": team.pk, "on": False})])
    assert pbx.member("sales", "Local/1000@from-queue/n") is not None
    assert run(pbx, "*8sales", "portal-pickup", caller="1000").did("Pickup") == []


def test_pickup_without_a_key_follows_queue_membership(pbx, alice, committed):
    pbx.astdb.pop("/PORTAL/1000/pickup/sales")
    assert run(pbx, "*8sales", "portal-pickup", caller="1000").did("Pickup") == ["sales@PICKUPMARK"]
    with committed():
        select_profile(user=alice, profile=profile_named(alice, "On holiday"))  # logs out of Sales
    pbx.astdb.pop("/PORTAL/1000/pickup/sales")
    assert run(pbx, "*8sales", "portal-pickup", caller="1000").did("Pickup") == []


def test_a_team_call_is_marked_for_pickup(pbx, alice):
    call = run(pbx, "sales", "portal-team")
    assert call.variables["PICKUPMARK"] == "sales"
    assert call.did("Queue") == ["sales"]


def test_render_dialplan_command_writes_the_file(pbx, alice, tmp_path):
    target = tmp_path / "extensions_portal.conf"
    call_command("render_dialplan", output=str(target))
    text = target.read_text()
    assert text == render()
    assert "[portal-ext]" in text and "exten => 1000,1,Set(PORTAL_DESTS=" in text
    assert "&amp;" not in text  # not HTML-escaped
