"""The automation: everything that switches a user without them clicking.

    triggers     time and meeting triggers: create/change them, when they fire
    duescan      the one Beat tick: claims due triggers, ended timers
    precedence   the precedence rules (user > sticky > meeting > timer > trigger)
    firings      time triggers firing, in batches
    clear_after  a timer ("until") ending
    meetings     a meeting starting or ending, whatever reported it
    connectors   one module per meeting source: webhook, m365
    tasks        the Celery tasks (thin: ids in, a service call)

Imports point one way: interfaces (views, admin, API, commands) ->
automation -> services -> selectors/engine/actions -> models -> devices.
Inside: tasks -> connectors -> meetings/firings/clear_after -> precedence ->
triggers; nothing here imports a view or a task (a batch converge is passed
in by the task that wants one).
"""
