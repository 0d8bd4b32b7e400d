"""What every command does with connection and selection flags."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from evmon.config.contexts import Context, selected_context
from evmon.config.resolve import ConnectionFlags, kafka_settings_from, nats_settings_from
from evmon.config.settings import KafkaSettings, NatsSettings
from evmon.errors import UsageError
from evmon.filter import Filter, FilterError, parse_filter
from evmon.selection import Start, parse_selection


def apply_context(args: argparse.Namespace) -> Context | None:
    """Fill what the flags left unset from the selected context; returns that context.

    Connection addresses, default selections (subjects/streams, topics/pattern, groups) and
    ``read_only`` come from the context; anything given on the command line wins. A
    selection is taken from the context only as a whole: ``-s`` replaces the context's
    subjects *and* streams, ``-t`` its topics and topic pattern. Applying it again changes
    nothing, so no marker is kept on ``args``: each step that needs the context applies it.
    """
    # natscli's default ($NATS_CONTEXT, `nats context select`, $NATS_URL) only for a
    # command that connects to NATS and names no server
    ctx = selected_context(
        getattr(args, "context", None),
        nats=getattr(args, "nats", None),
        kafka=getattr(args, "kafka", None),
    )
    if ctx is None:
        return None
    nats, kafka = ctx.nats, ctx.kafka
    if hasattr(args, "nats") and not args.nats and nats.get("urls"):
        args.nats = [",".join(nats["urls"])]
    if hasattr(args, "subjects") and not args.subjects and not getattr(args, "streams", None):
        args.subjects = list(nats.get("subjects", []))
        if hasattr(args, "streams"):
            args.streams = list(nats.get("streams", []))
    if hasattr(args, "topics") and not args.topics and not getattr(args, "topic_pattern", None):
        args.topics = list(kafka.get("topics", []))
        if hasattr(args, "topic_pattern"):
            args.topic_pattern = kafka.get("topic_pattern")
    # A command that reads topics takes the context's Kafka only with topics to read: a
    # context's Kafka without default topics must not block a NATS-only tail.
    has_topics = not hasattr(args, "topics") or args.topics or getattr(args, "topic_pattern", None)
    if hasattr(args, "kafka") and not args.kafka and kafka.get("bootstrap") and has_topics:
        args.kafka = kafka["bootstrap"]
    if hasattr(args, "groups") and not args.groups:
        args.groups = list(kafka.get("groups", []))
    if ctx.read_only and hasattr(args, "read_only"):
        args.read_only = True
    return ctx


def connection_flags(args: argparse.Namespace) -> ConnectionFlags:
    """The connection flags in ``args``; those its command does not have stay unset."""
    given: dict[str, Any] = {f.name: getattr(args, f.name, None) for f in fields(ConnectionFlags)}
    given["nats"] = tuple(given["nats"] or ())
    return ConnectionFlags(**given)


def nats_settings(args: argparse.Namespace) -> NatsSettings | None:
    ctx = apply_context(args)
    return nats_settings_from(connection_flags(args), ctx)


def kafka_settings(args: argparse.Namespace) -> KafkaSettings | None:
    ctx = apply_context(args)
    return kafka_settings_from(connection_flags(args), ctx)


def start_position(args: argparse.Namespace) -> Start:
    """``--from`` with the Kafka positions (``--last``, ``--partition``, tail's ``--until``)."""
    try:
        start = parse_selection(
            args.start,
            getattr(args, "last", None),
            getattr(args, "partitions", ()),
            getattr(args, "until", None),
        )
    except ValueError as err:
        raise UsageError(str(err)) from None
    if start.kind == "last" and getattr(args, "streams", None):
        raise UsageError("--last N counts Kafka offsets: read a JetStream stream with --from")
    if start.until is not None and getattr(args, "nats", None):
        raise UsageError("--until bounds a read of Kafka partitions: tail NATS without it")
    return start


def event_filter(expr: str) -> Filter | None:
    """Parse ``--filter``; an empty expression means no filter at all (the fast path)."""
    if not expr.strip():
        return None
    try:
        return parse_filter(expr)
    except FilterError as err:
        raise UsageError(str(err)) from None


#: What nats-server refuses in a stream or consumer name (nats-py raises a bare ValueError).
_BAD_NAME_CHARS = frozenset(" \t\r\n\f\v.*>/\\")


def check_stream_names(names: list[str], what: str = "stream") -> None:
    for name in names:
        if not name or _BAD_NAME_CHARS.intersection(name):
            raise UsageError(
                f"invalid JetStream {what} name {name!r}: names cannot be empty or contain "
                "'.', '*', '>', '/', '\\' or whitespace (did you mean -s SUBJECT?)"
            )


def check_selection(args: argparse.Namespace) -> None:
    """Refuse flag combinations that would silently read nothing."""
    apply_context(args)
    check_stream_names(args.streams)
    has_nats = bool(args.nats)
    if not has_nats and not args.kafka:
        raise UsageError(
            "nothing to read: give --nats URL and/or --kafka HOST:PORT, or --context NAME"
        )
    if (args.subjects or args.streams) and not has_nats:
        raise UsageError("-s/--subject and --stream need --nats URL")
    if (args.topics or args.topic_pattern) and not args.kafka:
        raise UsageError("-t/--topic and --topic-pattern need --kafka HOST:PORT")
    if args.kafka and not (args.topics or args.topic_pattern):
        raise UsageError("choose Kafka topics with -t NAME or --topic-pattern REGEX")
