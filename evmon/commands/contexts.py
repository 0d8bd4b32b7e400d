"""``evmon contexts``: the named contexts evmon can use, secrets masked."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from evmon.codec import safe_text
from evmon.config import (
    ENV_CONTEXT,
    Context,
    evmon_config_path,
    list_natscli_contexts,
    load_evmon_contexts,
    load_natscli_context,
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


async def run(args: argparse.Namespace) -> int:
    contexts = all_contexts()
    default = os.environ.get(ENV_CONTEXT, "").strip() or None
    if args.format == "json":
        rows = [{**c.masked(), "default": c.name == default} for c in contexts]
        print(json.dumps(rows, indent=2))
        return 0
    if not contexts:
        print(f"no contexts: define them in {evmon_config_path()} (see README: contexts)")
        return 0
    out: list[str] = []
    for ctx in contexts:
        out.extend(_text(ctx, default))
    print("\n".join(map(safe_text, out)))  # a description or URL may hold control bytes
    return 0
