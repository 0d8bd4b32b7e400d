#!/usr/bin/env python3
"""Regenerate the dashboard screenshots in ``screenshots/`` from a deterministic event set.

    python scripts/screenshots.py            # SVG, plus PNG when cairosvg is installed

The app runs headless (``run_test``) over ``evmon.tui.sample``: fixed events, a store clock
that stands still and scripted connection statuses, so the images only change when the
dashboard's look does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evmon.tui.app import EvmonApp  # noqa: E402
from evmon.tui.sample import sample_events, sample_specs, sample_store  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (140, 38)

#: name -> keys pressed after the events are in.
SHOTS: dict[str, list[str]] = {
    "main": [],
    "filter": ["slash", *'orders.*.created !json:currency=USD', "enter"],
    "detail": ["up", "up", "up", "up", "enter"],
}


async def shoot(name: str, keys: list[str]) -> Path:
    app = EvmonApp(sample_store(), sample_specs(), blink=False)
    async with app.run_test(size=SIZE) as pilot:
        while any(view.state == "connecting" for view in app.connections):
            await pilot.pause(0.01)
        app.feed(sample_events())
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        svg = app.export_screenshot(title="evmon connect")
        await app.close_sources()
    path = OUT / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def to_png(svg_path: Path) -> Path | None:
    """A PNG next to the SVG, if cairosvg is available (the SVG is what the README uses)."""
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        return None
    # cairosvg ignores SVG textLength (which stretches each run to its cells), so use a
    # monospace font it is sure to find, sized so its advance (0.602 em) is one 12.2 px cell.
    svg = svg_path.read_text(encoding="utf-8").replace(
        "font-family: Fira Code, monospace;\n        font-size: 20px;",
        'font-family: "DejaVu Sans Mono", monospace;\n        font-size: 20.2px;',
    )
    png = svg_path.with_suffix(".png")
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(png), output_width=1680)
    return png


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, keys in SHOTS.items():
        svg = await shoot(name, keys)
        png = to_png(svg)
        print(svg.relative_to(ROOT), *([png.relative_to(ROOT)] if png else []))


if __name__ == "__main__":
    asyncio.run(main())
