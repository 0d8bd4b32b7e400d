"""Operator actions: re-publish (replay), skip, export — safe by default.

Shared by ``evmon replay`` / ``evmon skip`` and the dashboard's r / s / x modals. Every
action is an async function taking an ``ActionContext`` (connection settings, read-only flag,
audit log), returning a result object with a ``summary()`` line, and raising ``EvmonError``
subclasses whose message is one line fit for stderr or a modal:

- ``ReadOnlyError`` (a UsageError) from every mutating action when ``read_only`` is set,
  before anything connects. Export is allowed in read-only mode: it changes no broker, it
  writes a local file from events already shown. ``ActionContext.disabled_reason`` says
  which keys to grey out and why.
- ``ReplayError`` (a RuntimeFailure) when a publish is not acknowledged: it names the event
  and the reason and how many were acknowledged before it; the rest were not sent. An
  acknowledged publish that was not stored (a JetStream duplicate, a core publish nobody
  subscribes to) is no error: ``ReplayResult`` counts it apart (see ``republish``).

Actions that mutate a broker append one line to the audit log once they have an outcome
(``ok``, ``failed``, ``cancelled``); export is recorded too, since it copies data out of the
cluster. A refusal in read-only mode or before any connection is not recorded: nothing was
attempted. The audit log is checked for writability before anything is sent, so an action
never happens unrecorded for want of a writable file (see ``audit``).

Connections are opened per action and closed after it: actions are rare and must not share
state with the live view's sources.

The package root is the one import for callers (``evmon.commands``, ``evmon.tui``, tests):
it re-exports the public names below and holds no code. Modules inside the package import
each other by module path, never through the root. The modules:

- ``context``: ``ActionContext``, the read-only guard (``ReadOnlyError``);
- ``audit``: ``AuditLog``, the 0600 JSONL audit trail;
- ``republish``: re-publish (``evmon replay``, the dashboard's r): plan, checks, report;
- ``jsonl_export``: export to a JSONL file (the dashboard's x);
- ``kafka_skip`` / ``jetstream_skip``: skip a poison message (``evmon skip``, s), with
  ``skip_report`` (the result and the preview lines both share);
- ``kafka_group_move``: move a whole empty Kafka group to a time, its log start or end
  (``evmon skip --group G --to-time``).

Module names are nouns so that none shadows the function it holds (``replay``, ``export``,
``skip_kafka`` are functions re-exported here).
"""

from __future__ import annotations

from evmon.actions.audit import AuditLog, default_audit_path
from evmon.actions.context import Action, ActionContext, ReadOnlyError
from evmon.actions.jetstream_skip import (
    DEFAULT_WAIT,
    JetStreamSkip,
    JetStreamSkipPlan,
    inspect_jetstream_skip,
    open_jetstream_skip,
    skip_jetstream,
)
from evmon.actions.jsonl_export import ExportResult, default_export_path, export
from evmon.actions.kafka_group_move import (
    GroupMovePlan,
    GroupMoveResult,
    MoveTarget,
    inspect_group_move,
    move_group,
    parse_move_target,
)
from evmon.actions.kafka_skip import KafkaSkipPlan, inspect_kafka_skip, skip_kafka
from evmon.actions.republish import (
    MSG_ID_HEADER,
    MSG_ID_POLICIES,
    PROVENANCE_HEADER,
    MsgIdPolicy,
    PlannedPublish,
    ReplayChecks,
    ReplayError,
    ReplayResult,
    TargetCheck,
    check_replay,
    identity,
    plan_event,
    plan_replay,
    replay,
)
from evmon.actions.skip_report import KafkaPosition, SkipResult
from evmon.sources.ack import PublishAck
from evmon.sources.nats.consumer_skip import ConsumerPosition

__all__ = [
    "DEFAULT_WAIT",
    "MSG_ID_HEADER",
    "MSG_ID_POLICIES",
    "PROVENANCE_HEADER",
    "Action",
    "ActionContext",
    "AuditLog",
    "ConsumerPosition",
    "ExportResult",
    "GroupMovePlan",
    "GroupMoveResult",
    "JetStreamSkip",
    "JetStreamSkipPlan",
    "KafkaPosition",
    "KafkaSkipPlan",
    "MoveTarget",
    "MsgIdPolicy",
    "PlannedPublish",
    "PublishAck",
    "ReadOnlyError",
    "ReplayChecks",
    "ReplayError",
    "ReplayResult",
    "SkipResult",
    "TargetCheck",
    "check_replay",
    "default_audit_path",
    "default_export_path",
    "export",
    "identity",
    "inspect_group_move",
    "inspect_jetstream_skip",
    "inspect_kafka_skip",
    "move_group",
    "open_jetstream_skip",
    "parse_move_target",
    "plan_event",
    "plan_replay",
    "replay",
    "skip_jetstream",
    "skip_kafka",
]
