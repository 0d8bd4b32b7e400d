"""Condition-with-deadline waits for tests. Tests never sleep to wait; they poll a condition.

    wait_for(lambda: server.is_running(), timeout=5, message="server up")
    rows = await async_wait_for(fetch_rows, message="rows arrived")   # sync or async predicate

Both return the first truthy value of the predicate, and raise `WaitTimeout` (an
AssertionError, so pytest shows it as a test failure) with `message`, the elapsed time and
the last value or exception seen when the deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["WaitTimeout", "async_wait_for", "wait_for"]

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not become true before the deadline."""


def _timeout_error(
    message: str, timeout: float, last: object, error: BaseException | None
) -> WaitTimeout:
    detail = f"last error: {error!r}" if error is not None else f"last value: {last!r}"
    return WaitTimeout(f"timed out after {timeout:.1f} s waiting for {message} ({detail})")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `predicate` until it returns a truthy value (returned) or `timeout` passes.

    Exceptions of the types in `ignore` count as "not yet"; others propagate at once.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            error = exc
        else:
            if value:
                return value
            last, error = value, None
        if time.monotonic() >= deadline:
            raise _timeout_error(message, timeout, last, error)
        time.sleep(interval)


@overload
async def async_wait_for(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,  # noqa: ASYNC109 - a polling deadline, not an I/O timeout
    interval: float = ...,
    message: str = ...,
    ignore: tuple[type[BaseException], ...] = ...,
) -> T: ...
@overload
async def async_wait_for(
    predicate: Callable[[], T],
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str = ...,
    ignore: tuple[type[BaseException], ...] = ...,
) -> T: ...
async def async_wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109
    interval: float = 0.02,
    message: str = "condition",
    ignore: tuple[type[BaseException], ...] = (),
) -> Any:
    """Async `wait_for`: `predicate` may be a plain or an async callable; polls without
    blocking the event loop."""
    deadline = time.monotonic() + timeout
    last: object = None
    error: BaseException | None = None
    while True:
        try:
            result = predicate()
            value = (await result) if inspect.isawaitable(result) else result
        except ignore as exc:
            error = exc
        else:
            if value:
                return value
            last, error = value, None
        if time.monotonic() >= deadline:
            raise _timeout_error(message, timeout, last, error)
        await asyncio.sleep(interval)
