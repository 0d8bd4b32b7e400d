"""connect_nats when the caller gives up: no retry loop may outlive it."""

from __future__ import annotations

import asyncio
import contextlib

from evmon.config import NatsSettings
from evmon.sources.nats.connect import connect_nats
from tests.brokers import free_port
from tests.waiting import async_wait_for


async def test_cancelling_a_pending_connect_stops_its_retries() -> None:
    before = set(asyncio.all_tasks())
    seen: list[str] = []
    settings = NatsSettings(urls=(f"nats://127.0.0.1:{free_port()}",))
    task = asyncio.create_task(
        connect_nats(settings, wait=None, on_status=lambda s: seen.append(s.detail))
    )
    await async_wait_for(lambda: "connection refused" in seen, message="a refused attempt")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await async_wait_for(
        lambda: not (set(asyncio.all_tasks()) - before - {asyncio.current_task()}),
        timeout=5,
        message="no task left behind",
    )
