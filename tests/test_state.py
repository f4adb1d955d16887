"""The pure device-state value: commands, diff, overlay (no database)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.state import (
    NO_LOCATION,
    Command,
    CommandNames,
    DestinationState,
    ExtensionState,
    TeamState,
    UserState,
    apply_command,
    apply_commands,
    diff,
    diff_user,
    idle_extension,
    overlay,
)

KEYS = ["1", "2", "3"]
maybe_bool = st.none() | st.booleans()


def destination(full: bool):
    value = st.booleans() if full else maybe_bool
    delay = st.integers(0, 120) if full else st.none() | st.integers(0, 120)
    timeout = st.integers(5, 300) if full else st.none() | st.integers(5, 300)
    return st.builds(DestinationState, active=value, ring_delay=delay, ring_timeout=timeout)


def team(full: bool):
    value = st.booleans() if full else maybe_bool
    return st.builds(TeamState, logged_in=value, paused=value, pickup=value)


def extension_state(full: bool):
    """An actual state (``full``: every field set) or a desired state (None = don't care)."""

    def opt(strategy):
        return strategy if full else st.none() | strategy

    return st.builds(
        ExtensionState,
        dnd=opt(st.booleans()),
        dnd_message=opt(st.sampled_from(["", "back at 3", "lunch"])),
        forward=opt(st.sampled_from(["", "1001", "+493012345678"])),
        destinations=st.dictionaries(st.sampled_from(KEYS), destination(full)),
        teams=st.dictionaries(st.sampled_from(KEYS), team(full)),
        location=opt(st.sampled_from([NO_LOCATION, 1, 2])),
        gsm=opt(st.booleans()),
        presence=opt(st.sampled_from(["", "In the office", "In a meeting"])),
    )


actual_states = extension_state(full=True)
desired_states = extension_state(full=False)


def satisfies(actual: ExtensionState, desired: ExtensionState) -> bool:
    return diff("1000", actual, desired) == []


# --- single commands ------------------------------------------------------------------


def test_team_login_turns_group_call_pickup_on():
    state = apply_command(idle_extension(team_ids=[7]), Command("1000", "team_login", {"team": "7"}))
    assert state.teams["7"] == TeamState(logged_in=True, paused=False, pickup=True)


def test_team_logout_turns_group_call_pickup_off():
    state = idle_extension(team_ids=[7])
    state = apply_commands(
        state, [Command("1000", "team_login", {"team": "7"}), Command("1000", "team_logout", {"team": "7"})]
    )
    assert state.teams["7"] == TeamState(logged_in=False, paused=False, pickup=False)


def test_dnd_off_clears_its_message():
    state = apply_command(idle_extension(), Command("1000", "set_dnd", {"on": True, "message": "lunch"}))
    assert (state.dnd, state.dnd_message) == (True, "lunch")
    state = apply_command(state, Command("1000", "set_dnd", {"on": False}))
    assert (state.dnd, state.dnd_message) == (False, "")


def test_unknown_command_is_refused():
    try:
        apply_command(idle_extension(), Command("1000", "reboot"))
    except ValueError as exc:
        assert "reboot" in str(exc)
    else:
        raise AssertionError("an unknown op was accepted")


# --- diff ------------------------------------------------------------------------------


def test_diff_of_equal_states_is_empty():
    assert diff("1000", idle_extension([1], [2]), idle_extension([1], [2])) == []


def test_diff_leaves_dont_care_fields_alone():
    actual = ExtensionState(**{**idle_extension().__dict__, "dnd": True, "forward": "1001"})
    assert diff("1000", actual, ExtensionState(presence="")) == []


def test_diff_sends_only_the_differences_in_a_fixed_order():
    actual = idle_extension([1, 2], [5])
    desired = ExtensionState(
        dnd=True,
        dnd_message="away",
        destinations={"2": DestinationState(active=False), "1": DestinationState(active=True)},
        teams={"5": TeamState(logged_in=True)},
        presence="In a meeting",
    )
    assert [(c.op, c.args) for c in diff("1000", actual, desired)] == [
        ("set_dnd", {"on": True, "message": "away"}),
        ("set_destination", {"destination": "2", "active": False}),
        ("team_login", {"team": "5"}),
        ("set_presence", {"text": "In a meeting"}),
    ]


def test_diff_skips_destinations_and_teams_the_device_does_not_have():
    desired = ExtensionState(destinations={"9": DestinationState(active=False)}, teams={"9": TeamState(logged_in=True)})
    assert diff("1000", idle_extension([1], [2]), desired) == []


def test_diff_user_ignores_extensions_that_do_not_exist():
    desired = UserState(extensions={"1000": ExtensionState(dnd=True), "4444": ExtensionState(dnd=True)})
    actual = UserState(extensions={"1000": idle_extension()})
    assert [c.extension for c in diff_user(actual, desired)] == ["1000"]


def test_command_descriptions_read_like_sentences():
    assert Command("1000", "set_dnd", {"on": True, "message": "lunch"}).describe() == "1000: turn DND on (lunch)"
    assert Command("1000", "set_forward", {"target": ""}).describe() == "1000: remove forward"
    pickup = Command("1000", "set_pickup", {"team": "3", "on": False})
    assert pickup.describe(CommandNames(teams={"3": "Sales"})) == "1000: group call pickup for Sales off"
    # An id without a name (the team was deleted since) is never shown as "team 3".
    assert pickup.describe() == "1000: group call pickup for a removed team off"


def test_json_round_trip_keeps_dont_care():
    value = UserState(extensions={"1000": ExtensionState(dnd=True, teams={"3": TeamState(logged_in=False)})})
    assert UserState.from_json(value.to_json()) == value


# --- properties ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(actual_states, desired_states)
def test_converging_twice_changes_nothing_the_second_time(actual, desired):
    """Idempotence (docs/rules.md#rule-2): diff(apply(a, diff(a, d)), d) == []."""
    converged = apply_commands(actual, diff("1000", actual, desired))
    assert diff("1000", converged, desired) == []


@settings(max_examples=300, deadline=None)
@given(actual_states, desired_states)
def test_converging_leaves_fields_the_profile_does_not_set(actual, desired):
    """docs/rules.md#rule-4: what the desired state leaves as None keeps the device's value."""
    converged = apply_commands(actual, diff("1000", actual, desired))
    for name in ("forward", "location", "gsm", "presence"):
        if getattr(desired, name) is None:
            assert getattr(converged, name) == getattr(actual, name)
    if desired.dnd is None and desired.dnd_message is None:
        assert (converged.dnd, converged.dnd_message) == (actual.dnd, actual.dnd_message)
    for key, have in actual.destinations.items():
        if key not in desired.destinations:
            assert converged.destinations[key] == have


@settings(max_examples=300, deadline=None)
@given(actual_states, desired_states, desired_states)
def test_overlay_top_wins_and_base_fills_the_rest(actual, base, top):
    """Overlay consistency: converging to overlay(base, top) satisfies top,
    and satisfies base wherever top does not care."""
    merged = overlay(base, top)
    converged = apply_commands(actual, diff("1000", actual, merged))
    assert diff("1000", converged, merged) == []
    for name in ("forward", "location", "gsm", "presence"):
        want = getattr(top, name) if getattr(top, name) is not None else getattr(base, name)
        if want is not None:
            assert getattr(converged, name) == want
    assert overlay(ExtensionState(), top) == top
    assert overlay(base, ExtensionState()) == base


@settings(max_examples=200, deadline=None)
@given(desired_states)
def test_extension_state_json_round_trip(desired):
    assert ExtensionState.from_json(desired.to_json()) == desired
