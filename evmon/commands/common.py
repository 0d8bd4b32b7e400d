"""What every command does with connection and selection flags."""

from __future__ import annotations

import argparse

from evmon.config import KafkaSettings, NatsSettings
from evmon.errors import UsageError
from evmon.filter import Filter, FilterError, parse_filter
from evmon.selection import Start, parse_start


def nats_settings(args: argparse.Namespace) -> NatsSettings | None:
    urls = tuple(u.strip() for raw in args.nats for u in raw.split(",") if u.strip())
    if not urls:
        return None
    return NatsSettings(urls=urls)


def kafka_settings(args: argparse.Namespace) -> KafkaSettings | None:
    if not args.kafka:
        return None
    return KafkaSettings(bootstrap=args.kafka)


def start_position(args: argparse.Namespace) -> Start:
    try:
        return parse_start(args.start)
    except ValueError as err:
        raise UsageError(str(err)) from None


def event_filter(expr: str) -> Filter | None:
    """Parse ``--filter``; an empty expression means no filter at all (the fast path)."""
    if not expr.strip():
        return None
    try:
        return parse_filter(expr)
    except FilterError as err:
        raise UsageError(str(err)) from None


def check_selection(args: argparse.Namespace) -> None:
    """Refuse flag combinations that would silently read nothing."""
    has_nats = bool(args.nats)
    if not has_nats and not args.kafka:
        raise UsageError("nothing to read: give --nats URL and/or --kafka HOST:PORT")
    if (args.subjects or args.streams) and not has_nats:
        raise UsageError("-s/--subject and --stream need --nats URL")
    if (args.topics or args.topic_pattern) and not args.kafka:
        raise UsageError("-t/--topic and --topic-pattern need --kafka HOST:PORT")
    if args.kafka and not (args.topics or args.topic_pattern):
        raise UsageError("choose Kafka topics with -t NAME or --topic-pattern REGEX")
