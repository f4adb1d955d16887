"""The one place each presence-profile state change happens
(docs/architecture.md#layers).

Views, admin actions, tasks and commands call these functions; each runs in
one transaction, writes its audit row, and enqueues device work on commit
(devices never talk inside a transaction). The modules:

- ``switching``: the one switching core (select a profile, for one user or
  many), re-apply the selected one, preview;
- ``profile_editing``: a user's own profiles;
- ``action_editing``: the actions of those profiles.

Reads live in ``profiles.selectors``. The names below are re-exported so
callers write ``from profiles.services import select_profile``.
"""

from profiles.services.action_editing import add_action, delete_action, move_action, update_action
from profiles.services.profile_editing import (
    copy_profile,
    create_profile,
    delete_profile,
    move_profile,
    update_profile,
)
from profiles.services.switching import (
    AUTOMATIC_SOURCES,
    Switch,
    SwitchOutcome,
    SwitchResult,
    preview_changes,
    preview_switch,
    reapply,
    reapply_many,
    select_profile,
    staff_switch,
    switch_profiles,
)

__all__ = [
    "AUTOMATIC_SOURCES",
    "Switch",
    "SwitchOutcome",
    "SwitchResult",
    "add_action",
    "copy_profile",
    "create_profile",
    "delete_action",
    "delete_profile",
    "move_action",
    "move_profile",
    "preview_changes",
    "preview_switch",
    "reapply",
    "reapply_many",
    "select_profile",
    "staff_switch",
    "switch_profiles",
    "update_action",
    "update_profile",
]
