"""The process supervisor: ordered start/stop steps, loops restarted with backoff, groups."""

from __future__ import annotations

import asyncio

from torrent_gateway.supervisor import Supervisor


async def test_steps_run_in_order_and_stop_steps_in_reverse_even_when_one_fails() -> None:
    supervisor = Supervisor()
    calls: list[str] = []

    async def step(name: str, fail: bool = False) -> None:
        calls.append(name)
        if fail:
            raise RuntimeError(name)

    supervisor.on_start(lambda: step("start-a"))
    supervisor.on_start(lambda: step("start-b"))
    supervisor.on_stop(lambda: step("stop-a"))
    supervisor.on_stop(lambda: step("stop-b", fail=True))
    supervisor.on_stop(lambda: step("stop-c"))
    await supervisor.start()
    await supervisor.stop()
    assert calls == ["start-a", "start-b", "stop-c", "stop-b", "stop-a"]


async def test_a_failing_loop_is_restarted_with_backoff_and_reported() -> None:
    supervisor = Supervisor()
    runs = 0
    second_failure, healthy = asyncio.Event(), asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            if runs == 2:
                second_failure.set()
            raise ValueError(f"run {runs} broke")
        healthy.set()
        await asyncio.Event().wait()  # then runs for good

    supervisor.keep_running("flaky", flaky, backoff=(0.05, 1.0))
    await supervisor.start()
    # The first failure waits 0.05 s, the second one 1 s: the loop is in its second backoff once the
    # task that raised has yielded.
    await asyncio.wait_for(second_failure.wait(), 5)
    waiting = supervisor.report()
    assert waiting["score"] < 100
    assert waiting["loops"]["flaky"]["running"] is False
    assert waiting["loops"]["flaky"]["last_error"] == "ValueError: run 2 broke"
    await asyncio.wait_for(healthy.wait(), 2)
    report = supervisor.report()
    assert report["score"] == 100
    assert report["loops"]["flaky"] == {
        "running": True,
        "restarts": 2,
        "last_error": "ValueError: run 2 broke",
    }
    await supervisor.stop()
    assert supervisor.report()["loops"]["flaky"]["running"] is False


async def test_a_group_is_cancelled_on_its_own_and_with_the_process() -> None:
    supervisor = Supervisor()
    tracker, seeder = supervisor.group("tracker"), supervisor.group("p2p").group("seeder")
    tracker.keep_running("tracker-gc", lambda: asyncio.Event().wait())
    await supervisor.start()
    seeder.keep_running("p2p-rescan", lambda: asyncio.Event().wait())  # started at once: the process runs
    one_shot = seeder.spawn(asyncio.sleep(60), "publication")
    assert set(supervisor.report()["loops"]) == {"tracker-gc", "p2p-rescan"}
    assert all(loop["running"] for loop in supervisor.report()["loops"].values())
    await tracker.cancel()
    loops = supervisor.report()["loops"]
    assert loops["tracker-gc"]["running"] is False and loops["p2p-rescan"]["running"] is True
    await supervisor.stop()
    assert one_shot.cancelled()
    assert not any(loop["running"] for loop in supervisor.report()["loops"].values())


async def test_apps_sharing_the_services_start_once_and_stop_with_the_last() -> None:
    supervisor = Supervisor()
    started = stopped = 0

    async def start() -> None:
        nonlocal started
        started += 1

    async def stop() -> None:
        nonlocal stopped
        stopped += 1

    supervisor.on_start(start)
    supervisor.on_stop(stop)
    supervisor.keep_running("loop", lambda: asyncio.Event().wait())
    await supervisor.start()
    await supervisor.start()
    assert started == 1
    await supervisor.stop()
    assert stopped == 0 and supervisor.report()["loops"]["loop"]["running"]
    await supervisor.stop()
    assert stopped == 1 and not supervisor.report()["loops"]["loop"]["running"]
