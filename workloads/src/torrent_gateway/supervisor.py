"""The one owner of a process's background work: start and stop steps, and long-lived tasks.

Components do not create their own long-lived tasks; they hand them to the process's
:class:`Supervisor` (or to a *group* of it, ``supervisor.group("tracker")``, which they can cancel
on their own when they close):

* ``on_start(step)`` / ``on_stop(step)``: awaited in order at start, in reverse order at stop (one
  failing stop step does not keep the others from running);
* ``keep_running(name, factory)``: a loop that must run as long as the process does (garbage
  collection, the health monitor, the tracker's swarm collector, the seeder's rescans); started
  with the process (at once if it already runs), and when it ends with an error it is started
  again after a backoff that grows with each failure in a row and resets once a run has lasted a
  minute;
* ``spawn(coro, name)``: one piece of background work (a job, a publication) that ends on its own
  and is cancelled at stop if it has not.

``report()`` is the supervisor's own health: which loops run, how often each was restarted and
the last error, so a loop that keeps failing shows in ``/api/health`` (in the process's own
score) instead of only in a log. Request-scoped tasks (a WebSocket's writer, a UDP datagram's
answer, an ffmpeg pipe reader) stay with the request that owns them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[Any]]
LoopFactory = Callable[[], Coroutine[Any, Any, Any]]

DEFAULT_BACKOFF: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
# A run that lasted this long was healthy: the next failure starts the backoff from the beginning.
HEALTHY_RUN_SECONDS = 60.0


@dataclass
class _Loop:
    name: str
    factory: LoopFactory
    backoff: Sequence[float]
    restarts: int = 0
    failures_in_a_row: int = 0
    last_error: str = ""
    in_backoff: bool = False
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Start/stop steps, supervised loops and one-shot background tasks of one process (the root)
    or of one component inside it (a group)."""

    def __init__(self, name: str = "", parent: Supervisor | None = None) -> None:
        self.name = name
        self._parent = parent
        self._groups: list[Supervisor] = []
        self._start_steps: list[Step] = []
        self._stop_steps: list[Step] = []
        self._loops: dict[str, _Loop] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False
        # Apps of one process that share the services (serve mode, tests) each start and stop them:
        # the first start and the last stop do the work.
        self._users = 0

    @property
    def running(self) -> bool:
        return self._running if self._parent is None else self._parent.running

    def group(self, name: str) -> Supervisor:
        """A group of loops and tasks of one component: they run and are reported with this
        supervisor's, and the component may cancel them on its own (``await group.cancel()``)."""
        group = Supervisor(name, self)
        self._groups.append(group)
        return group

    def on_start(self, step: Step) -> None:
        self._start_steps.append(step)

    def on_stop(self, step: Step) -> None:
        """Stop steps run in reverse order of registration."""
        self._stop_steps.append(step)

    def keep_running(
        self, name: str, factory: LoopFactory, *, backoff: Sequence[float] = DEFAULT_BACKOFF
    ) -> None:
        """Run ``factory()`` for the life of the process, restarting it with backoff when it fails.
        Registering a name twice keeps the first (two apps of one process share the services)."""
        existing = self._loops.get(name)
        if existing is not None and (existing.task is None or not existing.task.done()):
            return
        loop = self._loops[name] = _Loop(name, factory, tuple(backoff))
        if self.running:
            self._launch(loop)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """One piece of background work, cancelled at stop if it is still running."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    async def start(self) -> None:
        """Run the start steps, then launch every loop (of the groups too)."""
        self._users += 1
        if self._users > 1:
            return
        self._running = True
        for step in self._start_steps:
            await step()
        self._launch_all()

    async def cancel(self) -> None:
        """Cancel every loop and task (of the groups too) and wait for them; no stop step runs."""
        self._running = False
        tasks = self._all_tasks()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for loop in self._all_loops():
            loop.task = None

    async def stop(self) -> None:
        """Cancel the loops and tasks, then run the stop steps in reverse order."""
        self._users = max(0, self._users - 1)
        if self._users:
            return
        await self.cancel()
        for step in reversed(self._stop_steps):
            try:
                await step()
            except Exception:  # one failing step must not keep the others from running
                log.exception("stop step %s failed", getattr(step, "__qualname__", step))

    def report(self) -> dict[str, Any]:
        """100 while every loop runs; each loop waiting to be restarted after a failure takes 25
        off (never below 50: the process still serves). Every loop's restarts and last error."""
        loops = {
            loop.name: {
                "running": loop.task is not None and not loop.task.done() and not loop.in_backoff,
                "restarts": loop.restarts,
                **({"last_error": loop.last_error} if loop.last_error else {}),
            }
            for loop in self._all_loops()
        }
        failing = sum(1 for loop in self._all_loops() if loop.in_backoff)
        score = 100 if not failing else max(50, 100 - 25 * failing)
        return {"score": score, "loops": loops, "tasks": sum(1 for _ in self._all_tasks())}

    def _all_loops(self) -> list[_Loop]:
        loops = list(self._loops.values())
        for group in self._groups:
            loops.extend(group._all_loops())
        return loops

    def _all_tasks(self) -> list[asyncio.Task[Any]]:
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None] + list(self._tasks)
        for group in self._groups:
            tasks.extend(group._all_tasks())
        return tasks

    def _launch_all(self) -> None:
        for loop in self._loops.values():
            if loop.task is None or loop.task.done():
                self._launch(loop)
        for group in self._groups:
            group._launch_all()

    def _launch(self, loop: _Loop) -> None:
        loop.task = asyncio.get_running_loop().create_task(self._supervise(loop), name=loop.name)

    async def _supervise(self, loop: _Loop) -> None:
        while True:
            started = time.monotonic()
            try:
                await loop.factory()
                return  # a loop that returns has finished its work
            except Exception as exc:  # restarted below; logged with its traceback once per failure
                log.exception("background loop %s failed", loop.name)
                loop.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                loop.failures_in_a_row = 0
            delay = loop.backoff[min(loop.failures_in_a_row, len(loop.backoff) - 1)]
            loop.failures_in_a_row += 1
            loop.restarts += 1
            loop.in_backoff = True
            try:
                await asyncio.sleep(delay)
            finally:
                loop.in_backoff = False

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        with contextlib.suppress(asyncio.CancelledError):
            if task.exception() is not None:
                log.error("background task %s failed", task.get_name(), exc_info=task.exception())
