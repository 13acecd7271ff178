"""The end of many connections at once, a bounded amount per loop turn
(runtime/engineio/teardown.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from flask_realtime.runtime.engineio.teardown import Teardown


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_work_within_the_budget_runs_at_once() -> None:
    async def main() -> list[int]:
        teardown = Teardown(budget=1.0)
        done: list[int] = []
        for n in range(5):
            teardown.run(lambda n=n: done.append(n))
        assert teardown.pending == 0
        return done

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_a_job_run_now_gives_its_result_and_spends_the_budget() -> None:
    """``now`` (a polling POST that ends its session) answers at once, and its time
    counts: the jobs after it wait for the next turn, raising or not."""

    def boom(_: object) -> None:
        spin(0.003)
        raise ValueError("boom")

    async def main() -> tuple[int, bool, bool, bool]:
        teardown = Teardown(budget=0.002)
        result = teardown.now(lambda n: (spin(0.003), n + 1)[1], 41)
        busy_after_job = teardown.busy
        await asyncio.sleep(0)  # the turn ends: a fresh budget
        fresh = not teardown.busy
        with pytest.raises(ValueError, match="boom"):
            teardown.now(boom, None)
        return result, busy_after_job, fresh, teardown.busy

    assert asyncio.run(main()) == (42, True, True, True)


def test_work_past_the_budget_waits_and_the_loop_turns_between_batches() -> None:
    """Other clients' callbacks run while the rest of the teardown waits its turn."""

    async def main() -> tuple[list[str], Teardown]:
        loop = asyncio.get_running_loop()
        teardown = Teardown(budget=0.002)
        seen: list[str] = []
        for n in range(40):  # 40 x 0.5 ms: ten budgets' worth, in one turn
            teardown.run(lambda n=n: (spin(0.0005), seen.append(f"end-{n}")))
        assert teardown.pending > 0  # what did not fit waits
        loop.call_soon(seen.append, "other client")  # the next turn's other work
        while teardown.pending:
            await asyncio.sleep(0)
        return seen, teardown

    seen, teardown = asyncio.run(main())
    ends = [name for name in seen if name.startswith("end-")]
    assert ends == [f"end-{n}" for n in range(40)]  # every job, in order
    assert seen.index("other client") < len(seen) - 1  # it ran before the last job
    assert teardown.turns >= 2  # spread over several turns


def test_a_failing_deferred_job_is_logged_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> list[int]:
        teardown = Teardown(budget=0.0)  # nothing fits: everything is deferred
        done: list[int] = []
        teardown.run(lambda: done.append(1))
        teardown.run(lambda: 1 / 0)
        teardown.run(lambda: done.append(3))
        while teardown.pending:
            await asyncio.sleep(0)
        return done

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(main()) == [1, 3]
    assert "ending a connection failed" in caplog.text


def test_work_a_job_leaves_to_the_next_turn_counts_against_the_budget() -> None:
    """A job that closes a transport charges its ``connection_lost`` (run by uvloop at the
    next turn, outside any job): a budget's worth of such jobs, and the rest wait."""

    async def main() -> tuple[list[tuple[int, int]], int]:
        loop = asyncio.get_running_loop()
        teardown = Teardown(budget=1.0)  # generous: only the charges fill it
        turn = [0]
        ran: list[tuple[int, int]] = []  # (job, the loop turn it ran in)

        def count_turns() -> None:
            turn[0] += 1
            if teardown.pending:
                loop.call_soon(count_turns)

        def close(n: int) -> None:
            ran.append((n, turn[0]))
            teardown.charge(0.5)  # half the budget each: two a turn

        loop.call_soon(count_turns)  # first in each later turn: before the teardown's work
        for n in range(10):
            teardown.run(lambda n=n: close(n))
        while teardown.pending:
            await asyncio.sleep(0)
        return ran, teardown.turns

    ran, turns = asyncio.run(main())
    assert [n for n, _ in ran] == list(range(10))  # every job, in order
    per_turn: dict[int, int] = {}
    for _, at in ran:
        per_turn[at] = per_turn.get(at, 0) + 1
    assert max(per_turn.values()) <= 2  # the charges bounded each turn
    assert turns >= 3  # four turns after the first: three left work behind


def test_jobs_queued_with_their_argument_run_in_order_and_make_no_objects() -> None:
    """``call(fn, arg)`` queues a function and its argument as they are: 15,000 session
    ends queued as closures made 37,000 young objects for the collector to walk."""

    class Connection:
        def __init__(self, n: int) -> None:
            self.n = n

    async def main() -> tuple[list[int], int]:
        teardown = Teardown(budget=0.0)  # nothing fits: everything is queued
        done: list[int] = []
        connections = [Connection(n) for n in range(1000)]

        def end(connection: Connection) -> None:
            done.append(connection.n)

        gc.collect()
        gc.disable()
        try:
            young = len(gc.get_objects(0))
            for connection in connections[:500]:
                teardown.call(end, connection)
            teardown.run(lambda: done.append(-1))  # a closure, between the others
            for connection in connections[500:]:
                teardown.call(end, connection)
            made = len(gc.get_objects(0)) - young
        finally:
            gc.enable()
        while teardown.pending:
            await asyncio.sleep(0)
        return done, made

    done, made = asyncio.run(main())
    assert done == [*range(500), -1, *range(500, 1000)]
    assert made < 50  # the lambda, the loop's handle: not one per job
