"""``evmon contexts``: the named contexts evmon can use, secrets masked, and the one in use
(``*``; the last line says why: ``$EVMON_CONTEXT``, ``$NATS_CONTEXT``, natscli's selection or
``$NATS_URL``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from evmon.codec import safe_text
from evmon.config import (
    Context,
    evmon_config_path,
    list_natscli_contexts,
    load_evmon_contexts,
    load_natscli_context,
    selected_context,
)
from evmon.errors import UsageError


def all_contexts() -> list[Context]:
    """evmon's contexts, then natscli's that evmon's file does not shadow."""
    own = load_evmon_contexts(evmon_config_path())
    found = list(own.values())
    for path in list_natscli_contexts():
        if path.stem in own:
            continue
        try:
            found.append(load_natscli_context(path))
        except UsageError as err:
            print(f"evmon: warning: {err}", file=sys.stderr)
    return found


def _text(ctx: Context, default: str | None) -> list[str]:
    shown = ctx.masked()
    mark = "*" if ctx.name == default else " "
    head = f"{mark} {ctx.name}  ({ctx.kind}: {shown['path']})"
    lines = [head]
    if ctx.description:
        lines.append(f"    description: {ctx.description}")
    if ctx.read_only:
        lines.append("    read_only: true")
    for section in ("nats", "kafka"):
        values: dict[str, Any] = shown.get(section, {})
        for key, value in values.items():
            text = (
                ", ".join(value)
                if isinstance(value, list)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            lines.append(f"    {section}.{key}: {text}")
    return lines


def _in_use() -> tuple[Context | None, str]:
    """The context a command with no ``--context`` and no server flag uses, and a problem
    with it (a stale natscli selection) to print instead of failing the listing."""
    try:
        return selected_context(None, nats=()), ""
    except UsageError as err:
        return None, str(err)


def _chosen_line(ctx: Context | None) -> str:
    if ctx is None:
        return "in use: none (give --context NAME, --nats URL or --kafka HOST:PORT)"
    what = ", ".join(ctx.nats.get("urls", ())) if ctx.kind == "env" else ctx.label
    return f"in use: {what}  (from {ctx.chosen_by})"


async def run(args: argparse.Namespace) -> int:
    contexts = all_contexts()
    chosen, problem = _in_use()
    if problem:
        print(safe_text(f"evmon: warning: {problem}"), file=sys.stderr)
    default = chosen.name if chosen is not None and chosen.kind != "env" else None
    if args.format == "json":
        rows = [
            {**c.masked(), "default": c.name == default}
            | ({"chosen_by": chosen.chosen_by} if chosen and c.name == default else {})
            for c in contexts
        ]
        if chosen is not None and chosen.kind == "env":
            rows.append({**chosen.masked(), "default": True, "chosen_by": chosen.chosen_by})
        print(json.dumps(rows, indent=2))
        return 0
    if not contexts:
        print(f"no contexts: define them in {evmon_config_path()} (see README: contexts)")
        print(safe_text(_chosen_line(chosen)))
        return 0
    out: list[str] = []
    for ctx in contexts:
        out.extend(_text(ctx, default))
    out.append(_chosen_line(chosen))
    print("\n".join(map(safe_text, out)))  # a description or URL may hold control bytes
    return 0
