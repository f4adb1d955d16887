"""Session triggers: a profile to switch to when a user's last client
disconnects or expires, and optionally back when a client connects again
(FreePBX users' "DND on when I log out of the app, off when I log in").

The user's own choice (Account) wins over the client profile's default.
The rules are precedence.decide's (ClientsLeft, ClientBack): as a meeting,
a sticky profile the user chose by hand is never left, a running meeting is
not interrupted, and the return happens only from the profile the session
trigger selected itself (if the user chose another meanwhile, it stays).

Runs after the disconnect or connect committed (profiles.events calls the
listener registered in ProfilesConfig.ready), in its own transaction under
the user's lock.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from devices.models import ClientSession
from profiles.automation import acting
from profiles.automation.precedence import ClientBack, ClientsLeft, Decision, Outcome, decide
from profiles.errors import NotAllowed, PresenceDisabled
from profiles.models import Account, PresenceProfile


def effective(account: Account) -> tuple[PresenceProfile | None, bool]:
    """(profile to switch to when the last client leaves, return on connect)."""
    if account.session_end_profile_id is not None:
        return account.session_end_profile, account.session_return_on_connect
    client = account.client_profile
    if client is not None and client.session_end_profile_id is not None:
        return client.session_end_profile, client.session_return_on_connect
    return None, False


def set_session_trigger(*, user, profile: PresenceProfile | None, return_on_connect: bool = False) -> Account:
    """The user's own session trigger (None: use the client profile's
    default, if any)."""
    if profile is not None and not PresenceProfile.objects.available_to(user).filter(pk=profile.pk).exists():
        raise NotAllowed(_("That profile is not available to you."))
    try:
        account = Account.objects.get(user=user)
    except ObjectDoesNotExist:
        raise PresenceDisabled(_("Presence profiles are not set up for this user.")) from None
    account.session_end_profile = profile
    account.session_return_on_connect = bool(return_on_connect) and profile is not None
    account.save(update_fields=["session_end_profile", "session_return_on_connect"])
    return account


def clients_changed(user_ids: list[int], connected: bool) -> dict[int, Decision]:
    """Clients of ``user_ids`` connected (``connected``) or left. One query
    finds who has a session trigger at all (most users have none), so
    expiring a thousand sessions at once costs a constant number of queries
    plus a switch for each user who asked for one."""
    with_trigger = list(
        Account.objects.filter(user_id__in=list(user_ids))
        .filter(
            Q(session_end_profile__isnull=False)
            | Q(session_end_profile__isnull=True, client_profile__session_end_profile__isnull=False)
        )
        .values_list("user_id", flat=True)
    )
    return {user_id: client_changed(user_id, connected) for user_id in with_trigger}


def client_changed(user_id: int, connected: bool) -> Decision:
    """A client of ``user_id`` connected (``connected``) or one left."""
    with transaction.atomic():
        account, selection = acting.lock_user(user_id)
        if account is None:
            return Decision(Outcome.IGNORED, "presence profiles are not set up")
        account = Account.objects.select_related("client_profile__session_end_profile", "session_end_profile").get(
            pk=account.pk
        )
        profile, return_on_connect = effective(account)
        if profile is None:
            return Decision(Outcome.IGNORED, "no session trigger")
        state = acting.state_of(account, selection)
        if connected:
            if not return_on_connect:
                return Decision(Outcome.IGNORED, "no return on connect")
            decision = decide(state, ClientBack(label="a client connected again"))
            return acting.carry_out(decision, account, selection, acting.profiles_of(selection))
        if ClientSession.objects.filter(user_id=user_id).exists():
            return Decision(Outcome.UNCHANGED, "another client is still connected")
        decision = decide(state, ClientsLeft(profile=acting.ref(profile), label="the last client disconnected"))
        return acting.carry_out(decision, account, selection, acting.profiles_of(selection, profile))
