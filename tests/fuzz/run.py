"""The long fuzzing run: ``make fuzz`` (or ``PYTHONPATH=tests python -m fuzz.run``).

Options: ``--cases N`` per target (default 1,000,000), ``--targets a,b`` (default all),
``--seed S``, ``--max-seconds T`` per target (stop early, saying how many ran). Prints one
line per target (cases, seconds, cases/s, failures) and the first failing cases; exits 1
if any target failed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from flask_realtime.exceptions import ProtocolError

from .decoders import SEEDS, TARGETS
from .mutate import Mutator
from .wire import HTTP_SEEDS, WS_FRAME_SEEDS, Wire, cuts_for, upgrade_request

WIRE_TARGETS = ("http", "websocket")
_BATCH = 250


def fuzz_decoder(
    name: str, cases: int, seed: int, deadline: float
) -> tuple[int, list[tuple[bytes, BaseException]]]:
    """Run ``cases`` mutated cases through decoder ``name``; return (ran, failures)."""
    target = TARGETS[name]
    mutator = Mutator(SEEDS[name], seed)
    failures: list[tuple[bytes, BaseException]] = []
    ran = 0
    while ran < cases:
        if ran % 1000 == 0 and time.monotonic() > deadline:
            break
        case = mutator.case()
        ran += 1
        try:
            target(case)
        except ProtocolError:
            pass
        except Exception as exc:  # what the fuzzer looks for
            if len(failures) < 20:
                failures.append((case, exc))
    return ran, failures


def fuzz_wire(
    wire: Wire, name: str, cases: int, seed: int, deadline: float
) -> tuple[int, list[tuple[bytes, BaseException]]]:
    """Run ``cases`` cases through the served app's HTTP or WebSocket path."""
    seeds = HTTP_SEEDS if name == "http" else WS_FRAME_SEEDS
    mutator = Mutator(seeds, seed)
    rnd = random.Random(seed)
    make: Callable[[bytes], bytes] = (
        (lambda case: case) if name == "http" else (lambda case: upgrade_request() + case)
    )
    failures: list[tuple[bytes, BaseException]] = []
    ran = 0
    while ran < cases and time.monotonic() < deadline:
        batch = []
        for _ in range(min(_BATCH, cases - ran)):
            case = make(mutator.case())
            batch.append((case, cuts_for(case, rnd)))
        ran += len(batch)
        for failure in wire.feed(batch):
            if len(failures) < 20:
                failures.append(failure)
    wire.settle()
    return ran, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--targets", default=",".join([*TARGETS, *WIRE_TARGETS]))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS and n not in WIRE_TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {[*TARGETS, *WIRE_TARGETS]}")
    wire = Wire().start() if any(n in WIRE_TARGETS for n in names) else None
    failed = False
    try:
        for name in names:
            start = time.monotonic()
            deadline = start + args.max_seconds
            if name in WIRE_TARGETS:
                assert wire is not None
                ran, failures = fuzz_wire(wire, name, args.cases, args.seed, deadline)
            else:
                ran, failures = fuzz_decoder(name, args.cases, args.seed, deadline)
            elapsed = time.monotonic() - start
            print(f"{name:20} {ran:>10,} cases {elapsed:8.1f} s {ran / elapsed:>9,.0f}/s "
                  f"{len(failures)} failures", flush=True)  # fmt: skip
            for case, exc in failures[:5]:
                print(f"    {type(exc).__name__}: {exc!s:.200} <- {case[:200]!r}")
            failed = failed or bool(failures)
    finally:
        if wire is not None:
            wire.stop()
            for record in wire.alarms.records[:10]:
                print(f"    logged {record.levelname} {record.name}: {record.getMessage():.300}")
            for context in wire.loop_errors[:10]:
                print(f"    loop error: {context.get('message')} {context.get('exception')!r}")
            failed = failed or bool(wire.alarms.records or wire.loop_errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
