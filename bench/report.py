"""Targets, the Markdown table and the chart, all from the results dict of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.ingest import DASHBOARD, KCAT, NATS_SUB, RAW_KAFKA, RAW_NATS, STORE, TAIL

TAIL_TARGET = 0.60
DASHBOARD_TARGET = 0.50
RSS_LIMIT_MB = 300
KEY_P99_MS = 100


#: Benchmarks (issue 14) whose module reports its own targets and table section:
#: results key -> module under bench/ with ``targets(res)`` and ``markdown(res)``.
SECTIONS = {
    "oneshot": "oneshot",
    "quit": "quitting",
    "scale": "scale",
    "peer_json": "peer_json",
    "jetstream": "jetstream",
    "kafka_small": "jetstream",
}


def _sections(b: dict[str, Any]) -> list[tuple[Any, Any]]:
    import importlib

    return [
        (importlib.import_module(f"bench.{module}"), b[name])
        for name, module in SECTIONS.items()
        if b.get(name)
    ]


def _median(res: dict[str, Any], name: str) -> float | None:
    entry = res.get(name)
    return None if entry is None else entry.get("median")


def _ratio(res: dict[str, Any], name: str, base: str) -> float | None:
    a, b = _median(res, name), _median(res, base)
    return a / b if a and b else None


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 8 with what this run measured; ``ok`` is None when unmeasured."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: str, limit: str, ok: bool | None, note: str = "") -> None:
        out.append({"target": name, "measured": value, "limit": limit, "ok": ok, "note": note})

    def ratio_target(label: str, res: dict[str, Any], name: str, base: str, lim: float) -> None:
        if name not in res:
            add(label, "not run", f">= {lim:.0%}", None)
            return
        q = _ratio(res, name, base)
        lost = res[name].get("lost", 0)
        note = f"{lost:,} lost" if lost else ""
        if q is None:
            add(label, "no rate", f">= {lim:.0%}", False, "; ".join(res[name]["errors"][:1]))
        else:
            add(label, f"{q:.0%}", f">= {lim:.0%}", q >= lim and not lost, note)

    b = r.get("benchmarks", {})
    for size, res in (b.get("nats_ingest") or {}).items():
        ratio_target(f"tail jsonl vs raw nats-py, {size} B", res, TAIL, RAW_NATS, TAIL_TARGET)
    kafka = (b.get("kafka_ingest") or {}).get("results")
    if kafka:
        ratio_target("tail jsonl vs raw aiokafka", kafka, TAIL, RAW_KAFKA, TAIL_TARGET)
    for size, res in (b.get("nats_ingest") or {}).items():
        ratio_target(
            f"dashboard vs raw nats-py, {size} B", res, DASHBOARD, RAW_NATS, DASHBOARD_TARGET
        )
    if kafka:
        ratio_target("dashboard vs raw aiokafka", kafka, DASHBOARD, RAW_KAFKA, DASHBOARD_TARGET)
    paced = b.get("paced") or {}
    if DASHBOARD in paced:
        p = paced[DASHBOARD]
        add(
            f"dashboard drops at {paced['rate']:,.0f} msgs/s",
            p["error"] or f"{p['lost']:,} of {paced['count']:,}",
            "0",
            None if p["error"] else p["lost"] == 0,
        )
    mem = b.get("memory") or {}
    for name in (STORE, DASHBOARD):
        m = mem.get(name)
        if not m:
            continue
        if "error" in m:
            add(f"RSS, {name}", "error", f"<= {RSS_LIMIT_MB} MB", False, m["error"][:200])
            continue
        add(
            f"RSS with {mem['retained']:,} x 1 KiB retained, {name}",
            f"{m['rss_full_mb']:.0f} MB",
            f"<= {RSS_LIMIT_MB} MB",
            m["rss_full_mb"] <= RSS_LIMIT_MB,
        )
        add(
            f"RSS after {mem['more']:,} more, {name}",
            f"{m['rss_end_mb']:.0f} MB (max growth {m['growth_mb']:+.0f} MB)",
            "flat (5% or 10 MB)",
            m["flat"],
        )
    keys = b.get("responsiveness")
    if keys and "error" not in keys:
        for part, label in (("key_echo", "key echo"), ("filter_apply", "enter -> filtered list")):
            s = keys[part]
            add(
                f"{label} p99 under {keys['rate']:,.0f} msgs/s",
                f"{s['p99_ms']:.0f} ms (p50 {s['p50_ms']:.0f})",
                f"<= {KEY_P99_MS} ms",
                s["p99_ms"] <= KEY_P99_MS,
            )
    elif keys:
        add("key to paint p99", "error", f"<= {KEY_P99_MS} ms", False, keys["error"][:200])
    for module, res in _sections(b):
        out += module.targets(res)
    st = b.get("startup")
    if st:
        v = st["evmon --version"]["median_ms"]
        add(
            "evmon --version",
            f"{v:.0f} ms",
            f"<= {st['limit_ms']:.0f} ms (2 x python -c pass + 100)",
            v <= st["limit_ms"],
        )
    return out


# ------------------------------------------------------------------------------ Markdown


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _short(text: str) -> str:
    """kcat's version line lists every librdkafka feature: keep the versions."""
    return text.split(" (JSON")[0] if " (JSON" in text else text


def _cpu(entry: dict[str, Any] | None) -> str:
    v = None if entry is None else entry.get("cpu_us")
    return "-" if v is None else f"{v:.2f}"


def _ok(ok: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[ok]


def markdown(r: dict[str, Any], chart: str | None) -> str:
    m = r["meta"]
    b = r["benchmarks"]
    lines = [
        f"# evmon benchmarks ({'quick' if m['quick'] else 'full'} run)",
        "",
        f"{m['started']} · {m['machine']['cpu']} · {m['machine']['cores']} cores · "
        f"{m['machine']['ram_gb']} GB RAM · Python {m['python']} · load average "
        f"{m['load_before']} before, {m['load_after']} after · median of {m['repeats']} "
        "run(s) each",
        "",
    ]
    if chart:
        lines += [f"![evmon vs baselines and peers]({chart})", ""]
    lines += [
        "## Targets",
        "",
        "| target | measured | limit | holds | note |",
        "|---|---|---|---|---|",
    ]
    for t in r["targets"]:
        lines.append(
            f"| {t['target']} | {t['measured']} | {t['limit']} | {_ok(t['ok'])} | {t['note']} |"
        )
    nats = b.get("nats_ingest")
    if nats:
        sizes = list(nats)
        count = m["sizes"]["nats_count"]
        lines += ["", f"## 1. NATS core ingest ({count:,} messages per run, msgs/s)", ""]
        head = (
            "| contender | "
            + " | ".join(f"{s} B msgs/s | vs raw | CPU µs/msg" for s in sizes)
            + " | lost |"
        )
        lines += [head, "|---" * (3 * len(sizes) + 2) + "|"]
        for name in nats[sizes[0]]:
            cells = []
            lost = 0
            for s in sizes:
                res = nats[s]
                cells += [
                    _rate(_median(res, name)),
                    _pct(_ratio(res, name, RAW_NATS)),
                    _cpu(res.get(name)),
                ]
                lost += res[name]["lost"] if name in res else 0
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {lost:,} |")
    kafka = b.get("kafka_ingest")
    if kafka:
        res = kafka["results"]
        lines += [
            "",
            f"## 2. Kafka ingest ({kafka['count']:,} x {kafka['size']} B records, "
            f"{kafka['partitions']} partitions, from first; msgs/s)",
            "",
            "| contender | msgs/s | vs raw | CPU µs/msg | lost |",
            "|---|---|---|---|---|",
        ]
        for name, e in res.items():
            lines.append(
                f"| {name} | {_rate(e['median'])} | {_pct(_ratio(res, name, RAW_KAFKA))} "
                f"| {_cpu(e)} | {e['lost']:,} |"
            )
    flt = b.get("filter")
    if flt:
        res = flt["results"]
        lines += [
            "",
            f"## 3. Filter cost (`{flt['filter']}`, matches every message; NATS {flt['size']} B)",
            "",
            "| path | no filter | with filter | filtered / plain | CPU µs/msg plain -> filtered |",
            "|---|---|---|---|---|",
        ]
        for name in res:
            if name.endswith(" +filter"):
                continue
            plus = f"{name} +filter"
            q = _ratio(res, plus, name) if plus in res else None
            lines.append(
                f"| {name} | {_rate(_median(res, name))} | {_rate(_median(res, plus))} "
                f"| {_pct(q)} | {_cpu(res.get(name))} -> {_cpu(res.get(plus))} |"
            )
    paced = b.get("paced")
    if paced:
        parts = [
            f"{name} lost {e['lost'] if e['lost'] is not None else e['error']}"
            for name, e in paced.items()
            if isinstance(e, dict)
        ]
        lines += [
            "",
            f"Paced at {paced['rate']:,.0f} msgs/s ({paced['count']:,} x 1 KiB): "
            + "; ".join(parts)
            + ".",
        ]
    mem = b.get("memory")
    if mem:
        lines += [
            "",
            f"## 4. Memory ({mem['retained']:,} retained x {mem['size']} B, then "
            f"{mem['more']:,} more at {mem['rate']:,.0f} msgs/s)",
            "",
            "| path | RSS idle | RSS full | RSS at end | max growth after full | flat |",
            "|---|---|---|---|---|---|",
        ]
        for name in (STORE, DASHBOARD):
            e = mem.get(name)
            if not e:
                continue
            if "error" in e:
                lines.append(f"| {name} | error: {e['error'][:120]} | | | | |")
                continue
            lines.append(
                f"| {name} | {e['rss_idle_mb']} MB | {e['rss_full_mb']} MB | {e['rss_end_mb']} MB "
                f"| {e['growth_mb']:+} MB | {_ok(e['flat'])} |"
            )
    keys = b.get("responsiveness")
    if keys and "error" not in keys:
        lines += [
            "",
            f"## 5. Key to paint (dashboard, {keys['rate']:,.0f} msgs/s flood, "
            f"{keys['retained']:,} retained, {keys['cycles']} filter cycles)",
            "",
            "| step | samples | p50 | p99 | max |",
            "|---|---|---|---|---|",
        ]
        for part, label in (
            ("key_echo", "`/` and each typed key -> frame showing it"),
            ("filter_apply", "`enter` -> filtered list painted"),
        ):
            s = keys[part]
            lines.append(
                f"| {label} | {s['n']} | {s['p50_ms']} ms | {s['p99_ms']} ms | {s['max_ms']} ms |"
            )
        by_expr = keys.get("filter_apply_by_expr") or {}
        if by_expr:
            lines += ["", "| `enter` -> painted, by filter | p50 | max |", "|---|---|---|"]
            for expr, s in by_expr.items():
                lines.append(f"| `{expr}` | {s['p50_ms']} ms | {s['max_ms']} ms |")
        rate, dropped = keys["ingest_rate"], keys["dropped"]
        lines.append(f"\nIngest kept {rate:,} msgs/s while typing; {dropped:,} dropped.")
    st = b.get("startup")
    if st:
        lines += ["", "## 6. Start-up (median wall time)", "", "| command | ms |", "|---|---|"]
        for name, e in st.items():
            if isinstance(e, dict):
                lines.append(f"| `{name}` | {e['median_ms']} |")
    for module, res in _sections(b):
        lines += module.markdown(res)
    lines += ["", "## Notes", ""] + [f"- {n}" for n in r.get("notes", [])]
    peers = m.get("peers")
    if peers:
        lines += [f"- peer {k}: {_short(v)}" for k, v in peers.items()]
    v = m.get("versions") or {}
    if v:
        lines.append("- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ chart

COLORS = {
    RAW_NATS: "#888888",
    RAW_KAFKA: "#888888",
    TAIL: "#1f77b4",
    STORE: "#9ecae1",
    DASHBOARD: "#2ca02c",
    NATS_SUB: "#ff7f0e",
    KCAT: "#ff7f0e",
}


def _thousands(value: float, _pos: int) -> str:
    return f"{value / 1000:.0f}k" if value else "0"


def _wall_times(b: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(label, seconds, colour) of the one-shot reads and of ``q`` (issue 14)."""
    out: list[tuple[str, float, str]] = []
    for name, e in ((b.get("oneshot") or {}).get("results") or {}).items():
        if e.get("wall") is not None:
            peer = not name.startswith("evmon")
            out.append((name, e["wall"], "#ff7f0e" if peer else "#1f77b4"))
    for name, e in ((b.get("quit") or {}).get("results") or {}).items():
        if e.get("exit_s") is not None:
            out.append((f"q: {name}", e["exit_s"], "#2ca02c"))
    return out


def _stream_cpu(b: dict[str, Any]) -> list[tuple[str, float, str, float | None]]:
    """(label, CPU µs per message, colour, raw / it) of the JetStream and small-Kafka reads."""
    out: list[tuple[str, float, str, float | None]] = []
    for key, prefix in (("jetstream", "JetStream"), ("kafka_small", "Kafka 128 B")):
        res = (b.get(key) or {}).get("results") or {}
        for name, e in res.items():
            if e.get("cpu_us"):
                raw = name.startswith("raw ")
                colour = "#888888" if raw else "#ff7f0e" if "floor" in name else "#1f77b4"
                ratio = None if raw else e.get("cpu_ratio")
                out.append((f"{prefix}: {name}", float(e["cpu_us"]), colour, ratio))
    return out


def _bars(ax: Any, rows: list[tuple[str, float, str, str]], title: str, xlabel: str) -> None:
    """One horizontal bar per (name, value, colour, label) row, top to bottom."""
    values = [v for _, v, _, _ in rows]
    ax.barh([nm for nm, _, _, _ in rows], values, color=[c for _, _, c, _ in rows])
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", labelsize=8)
    for i, (_, v, _, label) in enumerate(rows):
        ax.text(v, i, label, va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.3)


def chart(r: dict[str, Any], path: Path) -> bool:
    """A PNG with one panel per ingest benchmark and one for start-up; False without
    matplotlib (a dev dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return False
    b = r["benchmarks"]
    panels: list[tuple[str, dict[str, Any], str]] = []
    for size, res in (b.get("nats_ingest") or {}).items():
        panels.append((f"NATS core, {size} B messages", res, RAW_NATS))
    if b.get("kafka_ingest"):
        k = b["kafka_ingest"]
        panels.append((f"Kafka, {k['size']} B records from first", k["results"], RAW_KAFKA))
    st = b.get("startup")
    times = _wall_times(b)
    cpu = _stream_cpu(b)
    n = len(panels) + (1 if st else 0) + (1 if times else 0) + (1 if cpu else 0)
    if n == 0:
        return False
    cols = 2 if n > 1 else 1
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.4 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (title, res, base) in zip(flat, panels, strict=False):
        names = [nm for nm in res if _median(res, nm)]
        values = [_median(res, nm) or 0.0 for nm in names]
        bars = ax.barh(names, values, color=[COLORS.get(nm, "#bbbbbb") for nm in names])
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("messages/s (median)")
        top = max(values) if values else 1.0
        ax.set_xlim(0, top * 1.35)
        for bar, nm in zip(bars, names, strict=True):
            q = _ratio(res, nm, base)
            label = f"{bar.get_width():,.0f}" + (f"  ({q:.0%})" if q and nm != base else "")
            ax.text(
                bar.get_width() + top * 0.01,
                bar.get_y() + bar.get_height() / 2,
                label,
                va="center",
                fontsize=8,
            )
        ax.tick_params(axis="y", labelsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    if st:
        ax = flat[len(panels)]
        names = [nm for nm, e in st.items() if isinstance(e, dict)]
        values = [st[nm]["median_ms"] for nm in names]
        ax.barh(names, values, color=["#888888", "#1f77b4", "#1f77b4"][: len(names)])
        ax.invert_yaxis()
        ax.axvline(st["limit_ms"], color="#d62728", linestyle="--", linewidth=1)
        ax.text(st["limit_ms"], len(names) - 0.6, "limit ", color="#d62728", fontsize=8, ha="right")
        ax.set_title("Start-up", fontsize=10)
        ax.set_xlabel("ms (median wall time)")
        ax.tick_params(axis="y", labelsize=8)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.0f}", va="center", fontsize=8)
    if cpu:
        _bars(
            flat[n - 2 if times else n - 1],
            [(nm, v, c, f" {v:.2f}" + (f"  ({q:.2f})" if q else "")) for nm, v, c, q in cpu],
            "Stream reads from first: CPU per message (issue 14)",
            "µs per message (median; raw / contender in brackets)",
        )
    if times:
        _bars(
            flat[n - 1],
            [(nm, v, c, f" {v:.2f}") for nm, v, c in times],
            "One-shot reads (spawn to exit) and q (key to exit)",
            "s (median wall time)",
        )
    for ax in flat[n:]:
        ax.set_visible(False)
    m = r["meta"]
    fig.suptitle(
        f"evmon vs raw clients and peers ({m['machine']['cores']} cores, Python {m['python']}; "
        "% = of the raw client)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
