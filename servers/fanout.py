"""Asking every agent at once: one thread per agent (up to SERVER_STATS_WORKERS) and one overall
deadline, so that one slow or unreachable host never delays the answer about the others.

A thread per agent matters: with fewer threads than agents, the agents are asked in waves, and
every hung agent holds a thread for its whole timeout, so the agents queued behind it wait that
long before they are even asked. With one thread each, a round takes as long as its slowest
answer and at most `deadline`, however many agents are dead or hung."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.conf import settings

Item = TypeVar("Item")
Result = TypeVar("Result")


def agents_fan_out(
    items: Sequence[Item],
    call: Callable[[Item], Result],
    *,
    deadline: float,
    late: Callable[[Item], Result],
    name: str = "agents",
) -> list[Result]:
    """`call(item)` for every item in parallel (a thread each, at most SERVER_STATS_WORKERS); an
    item not answered within `deadline` seconds of the start gets `late(item)`. Results keep the
    items' order; the threads still running are left to finish on their own (their answers are
    dropped; each agent call has its own connect and read timeouts)."""
    if not items:
        return []
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(settings.SERVER_STATS_WORKERS, len(items)), thread_name_prefix=f"fan-out-{name}"
    )
    try:
        futures = [pool.submit(call, item) for item in items]
        done, _ = concurrent.futures.wait(futures, timeout=deadline)
        return [
            future.result() if future in done else late(item)
            for future, item in zip(futures, items, strict=True)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def agent_deadline() -> float:
    """One agent call's worst case: connect, then read, plus a little."""
    return settings.AGENT_CONNECT_TIMEOUT + settings.AGENT_READ_TIMEOUT + 0.5
