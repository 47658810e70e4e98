"""Drive a coroutine to completion without a task, when it is known never to suspend.

The in-process swarm store does all its work synchronously behind an async interface. Creating
a task per UDP datagram or per fast-path HTTP request costs more than the work itself, so the
frontends run such coroutines inline; callers decide beforehand (a coroutine that already ran
outside any task cannot be handed to one safely: ``asyncio.timeout`` and friends need the task).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a coroutine expected to finish inline suspended")
