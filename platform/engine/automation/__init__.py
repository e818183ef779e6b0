"""crmkit.engine.automation: stage transitions, automation rules and their outbox (docs/automation.md).

    transitions.py  moves of a picklist refused in the save pipeline, on every write path
    rules.py        before-save actions, and the outbox rows of after-save actions
    outbox.py       the outbox table's life: claim, done, retry with backoff, dead letters, requeue
    actions.py      what the worker does for one outbox row
    queue.py        the huey queue that carries outbox ids to `crmkit worker`
    deliveries.py   send_email and call_webhook rows: claim -> send -> done, at most one email per row
    recipients.py   who an email goes to, and what its template sees
    smtp.py         SMTP settings (CRMKIT_SMTP_*) and one message's SMTP transaction in steps
    unsubscribe.py  signed one-click unsubscribe links and the opt-outs they record
    webhooks.py     the signed POST, to allowed hosts only, checked after DNS resolution
    assignment.py   the assign_owner action: round robin, least loaded, a rule table; the locked turn counter
    scoring.py      scoring rules in the save, and `rescore` for existing records
    action_types.py action types plugins register (crmkit_automation_actions)
"""
