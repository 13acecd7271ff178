"""The server of ``bench/soak.py``: a Flask app with an echo handler and, as most apps do,
a ``def`` disconnect handler (``SOAK_NO_DISCONNECT_HANDLER=1`` leaves it out), served by
``socketio.run`` with the collector's policy (``SOAK_GC_FREEZE=0`` turns it off) and the
GIL's switch interval of ``socketio.run`` (``SOAK_SWITCH_INTERVAL``: seconds, or ``python``
for Python's own 5 ms; ``SOAK_WORKER_THREADS``: the ``def`` pool's size).

``GET /stats`` tells the conductor the live sessions, the full collections since the last
read (when each ended, its pause), the heap's size and the policy's sweeps; with
``?deep=1`` what is frozen too; with ``?census=1`` (``soak_census.py``) every object the
collector tracks, counted by type. ``SOAK_GC_DETAIL=1`` (``soak.py --gc-detail``) adds each
full collection over 5 ms and the most CPU time one took; ``SOAK_SAMPLE_LOOP=1``
(``--sample-loop``) where the loop's thread was, sampled every 2 ms, and its longest lag;
``SOAK_LOOP_TURNS=1`` (``--loop-turns``) the longest the loop went without running a 1 ms
timer (its longest turn, measured on the loop itself), and the most CPU time its thread
took in one (its own work, without what other processes took of the cores). Always: the
process's CPU seconds, and the echo handler answers with when it ran
(``time.perf_counter``, one clock for all processes), so that the conductor tells the
wait before the handler from the way back.
``GET /stats?profile=FILE&seconds=S`` (``--profile-leave``) profiles the loop's thread
(cProfile) for S seconds into FILE.

    python bench/soak_server.py   # prints the port it listens on, as socketio.run does
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

from soak_clients import raise_fd_limit


def serve() -> None:
    from flask import Flask, request

    from flask_realtime import SocketIO

    try:
        from flask_realtime.runtime.gc_policy import installed_gc_policy
    except ImportError:  # a version before the policy, to compare with

        def installed_gc_policy() -> Any:
            return None

    app = Flask("soak")
    freeze = os.environ.get("SOAK_GC_FREEZE", "1") != "0"
    options: dict[str, Any] = {} if freeze else {"gc_freeze": False}
    interval = os.environ.get("SOAK_SWITCH_INTERVAL")  # "python": Python's own (5 ms)
    if interval:
        options["switch_interval"] = None if interval == "python" else float(interval)
    if os.environ.get("SOAK_WORKER_THREADS"):
        options["worker_threads"] = int(os.environ["SOAK_WORKER_THREADS"])
    socketio = SocketIO(app, **options)
    pauses: list[tuple[float, float]] = []  # (when it ended, seconds), time.monotonic
    started: list[float] = []
    cpu: list[float] = []
    detail = bool(os.environ.get("SOAK_GC_DETAIL"))
    if os.environ.get("SOAK_GC_GARBAGE"):  # what the collector finds cyclic, kept to count
        gc.set_debug(gc.DEBUG_SAVEALL)
    walked: list[tuple[int, ...]] = []  # with --gc-detail: each generation's size at a start
    largest: list[tuple[int, list[tuple[int, str]]]] = []  # their references, largest 3
    details: list[dict[str, Any]] = []  # with --gc-detail: the full collections over 5 ms
    cpu_max = [0.0]  # with --gc-detail: the most CPU time a full collection took

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            if detail:  # counted before the clock starts: not part of the pause
                young = [gc.get_objects(g) for g in range(3)]
                walked.append(tuple(map(len, young)))
                # what those objects refer to (a collection visits each reference once
                # or twice): one large new container can cost more than all the others
                sizes = sorted(
                    ((len(gc.get_referents(o)), type(o).__qualname__) for g in young for o in g),
                    reverse=True,
                )
                largest.append((sum(n for n, _ in sizes), sizes[:3]))
            cpu.append(time.thread_time())  # the thread's CPU time: not what others took
            started.append(time.perf_counter())
        elif started:
            pause = time.perf_counter() - started.pop()
            spent = time.thread_time() - cpu.pop()
            pauses.append((time.monotonic(), pause))
            if detail and walked:
                sizes = walked.pop()
                references, biggest = largest.pop()
                cpu_max[0] = max(cpu_max[0], spent)
                if pause > 0.005:
                    details.append({
                        "at": time.monotonic(), "ms": round(pause * 1e3, 1),
                        "cpu_ms": round(spent * 1e3, 1),
                        "generations": sizes, "references": references, "largest": biggest,
                        "collected": info.get("collected"),
                        "thread": threading.current_thread().name,
                    })  # fmt: skip

    gc.callbacks.append(on_gc)

    samples: collections.Counter[str] = collections.Counter()
    lags: list[float] = []  # with --sample-loop: how late the loop ran a callback
    if os.environ.get("SOAK_SAMPLE_LOOP"):
        loop_thread = threading.get_ident()

        def sample() -> None:  # where the loop's thread is, every 2 ms; and its lag
            pending: list[float] = []

            def answered() -> None:  # on the loop: how late it ran a callback
                if pending:
                    lags.append(time.perf_counter() - pending.pop())

            while True:
                time.sleep(0.002)
                loop = socketio.service_for(app).bridge.loop
                if loop is not None and not pending:
                    pending.append(time.perf_counter())
                    loop.call_soon_threadsafe(answered)
                frames = sys._current_frames()
                frame = frames.get(loop_thread)
                others = sorted(
                    f"{Path(f.f_code.co_filename).stem}.{f.f_code.co_name}"
                    for ident, f in frames.items()
                    if ident not in (loop_thread, threading.get_ident())
                    and f.f_code.co_name not in ("_take", "wait", "_wait_for_tstate_lock")
                )  # the other threads' innermost frames, but for the ones waiting for work
                if others:
                    samples["others: " + ", ".join(others[:3])] += 1
                where = []
                while frame is not None and len(where) < 3:
                    code = frame.f_code
                    where.append(f"{Path(code.co_filename).stem}.{code.co_name}")
                    frame = frame.f_back
                samples[" < ".join(where) or "(in C: polling, or waiting for the GIL)"] += 1

        threading.Thread(target=sample, daemon=True).start()

    turn_max = [0.0, 0.0]  # with --loop-turns: the longest gap between two 1 ms ticks, and
    # the most CPU time the loop's thread took between two (its own work, whatever else ran)
    if os.environ.get("SOAK_LOOP_TURNS"):

        def start_ticks() -> None:  # on the loop: a 1 ms timer that notes how late it ran
            loop = socketio.service_for(app).bridge.loop
            assert loop is not None
            last = [time.perf_counter(), time.thread_time()]

            def tick() -> None:
                now, cpu = time.perf_counter(), time.thread_time()
                turn_max[0] = max(turn_max[0], now - last[0])
                turn_max[1] = max(turn_max[1], cpu - last[1])
                last[:] = now, cpu
                loop.call_later(0.001, tick)

            tick()

        def wait_for_loop() -> None:
            while (loop := socketio.service_for(app).bridge.loop) is None:
                time.sleep(0.01)
            loop.call_soon_threadsafe(start_ticks)

        threading.Thread(target=wait_for_loop, daemon=True).start()

    def start_profile(path: str, seconds: float) -> None:
        import cProfile

        loop = socketio.service_for(app).bridge.loop
        assert loop is not None
        profile = cProfile.Profile()

        def stop() -> None:
            profile.disable()
            profile.dump_stats(path)

        def start() -> None:  # on the loop's thread: cProfile profiles the thread it runs on
            profile.enable()
            loop.call_later(seconds, stop)

        loop.call_soon_threadsafe(start)

    @socketio.on("echo")
    def echo(*args: Any) -> tuple[Any, ...]:  # and when it ran: where an echo waited
        return (*args, time.perf_counter())

    left: list[str] = []

    def gone(reason: str) -> None:  # as most apps have: a def handler per client that leaves
        left.append(reason)
        del left[:-100]

    if not os.environ.get("SOAK_NO_DISCONNECT_HANDLER"):
        socketio.on_event("disconnect", gone)

    def holders(objects: list[Any]) -> collections.Counter[str]:
        """For every attribute of a tracked object (a slot or its ``__dict__``) that is a
        tracked object itself: "Holder.attribute: Type", counted."""
        counts: collections.Counter[str] = collections.Counter()
        for o in objects:
            cls = type(o)
            slots = [getattr(k, "__slots__", ()) for k in cls.__mro__]
            names = [n for k in slots for n in ((k,) if isinstance(k, str) else k)]
            try:
                attributes = getattr(o, "__dict__", None)
            except Exception:  # a proxy (werkzeug's LocalProxy) outside its context
                continue
            if isinstance(attributes, dict):
                names += list(attributes)
            for name in names:
                try:
                    value = getattr(o, name)
                except Exception:  # an unset slot, a property that fails
                    continue
                if gc.is_tracked(value):
                    counts[f"{cls.__qualname__}.{name}: {type(value).__qualname__}"] += 1
        return counts

    @app.route("/stats")
    def stats() -> dict[str, Any]:
        if request.args.get("profile"):  # --profile-leave: the loop thread, for seconds
            start_profile(request.args["profile"], float(request.args.get("seconds", 3)))
            return {}
        service = socketio.service_for(app)
        policy = installed_gc_policy()
        taken = pauses[:]
        del pauses[: len(taken)]
        answer: dict[str, Any] = {
            "sessions": len(service.engine.sessions),
            "gc2": taken,
            "blocks": sys.getallocatedblocks(),
            "sweeps": policy.sweeps if policy else 0,
            "cpu_s": time.process_time(),
        }
        if turn_max[0]:
            answer["turn_max_ms"] = round(turn_max[0] * 1e3, 1)
            answer["turn_cpu_ms"] = round(turn_max[1] * 1e3, 1)
            turn_max[:] = 0.0, 0.0
        if samples:
            answer["loop_samples"] = samples.most_common(10)
            samples.clear()
            answer["loop_lag_ms"] = round(max(lags, default=0.0) * 1e3, 1)
            lags.clear()
        if detail:
            answer["gc2_cpu_max"], cpu_max[0] = cpu_max[0], 0.0
            answer["gc2_detail"] = details[:]
            del details[: len(answer["gc2_detail"])]
        if request.args.get("deep"):
            answer["frozen"] = gc.get_freeze_count()
        if gc.garbage:  # SOAK_GC_GARBAGE=1: the cyclic garbage since the last read, by type
            answer["garbage"] = collections.Counter(map(_garbage_label, gc.garbage)).most_common(12)
            gc.garbage.clear()
        if request.args.get("census"):  # soak_census.py: every tracked object, by type
            gc.collect()  # garbage gone (the policy freezes what survives)
            gc.unfreeze()  # O(1) both ways
            objects = gc.get_objects()
            answer["census"] = collections.Counter(
                type(o).__qualname__ for o in objects
            ).most_common()
            if request.args.get("census") == "holders":  # who holds each tracked object
                answer["holders"] = holders(objects).most_common()
            del objects
            gc.freeze()
        return answer

    socketio.run(app, host="127.0.0.1", port=int(os.environ.get("SOAK_PORT", "0")),
                 log_output=False)  # fmt: skip


def _garbage_label(o: Any) -> str:
    """A piece of cyclic garbage, by type; a function by its name, a list by the type of its
    first item (what tells where they come from)."""
    if isinstance(o, types.FunctionType):
        return f"function {o.__module__}.{o.__qualname__}"
    if type(o) is list:
        return f"list of {type(o[0]).__qualname__}" if o else "list (empty)"
    return type(o).__qualname__


if __name__ == "__main__":
    raise_fd_limit()
    serve()
