"""Short fuzzing runs, part of ``make test``: every decoder, the HTTP request path and the
WebSocket frame path, a few seconds each. ``make fuzz`` runs the same targets for a
million cases each (``run.py``).

Two kinds of cases: Hypothesis's (arbitrary bytes, and seeds with bytes spliced in, so
that a failure shrinks to a small example), and the mutating fuzzer's, with a seed that
changes every run (printed on failure, to replay it with ``run.py --seed``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import ProtocolError

from .decoders import SEEDS, TARGETS
from .run import fuzz_decoder, fuzz_wire
from .wire import HTTP_SEEDS, WS_FRAME_SEEDS, Wire, cuts_for, upgrade_request

RUN_SEED = int(os.environ.get("FUZZ_SEED", random.randrange(1 << 30)))
SHORT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def spliced(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed with arbitrary bytes put in at some point, or cut there."""
    return st.tuples(st.sampled_from(seeds), st.binary(max_size=64), st.integers(0, 4096)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )


def only_protocol_errors(name: str, data: bytes) -> None:
    try:
        TARGETS[name](data)
    except ProtocolError:
        pass


@pytest.mark.parametrize("name", sorted(TARGETS))
@SHORT
@given(data=st.binary(max_size=512))
def test_decoder_takes_any_bytes(name: str, data: bytes) -> None:
    only_protocol_errors(name, data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@SHORT
@given(data=st.data())
def test_decoder_takes_seeds_with_bytes_spliced_in(name: str, data: st.DataObject) -> None:
    only_protocol_errors(name, data.draw(spliced(SEEDS[name])))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoder_mutation_run(name: str) -> None:
    ran, failures = fuzz_decoder(name, 8_000, RUN_SEED, deadline=float("inf"))
    assert ran == 8_000
    assert not failures, f"seed {RUN_SEED}: {failures[:3]}"


# -- the wire: a served app --------------------------------------------------------------------


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    """The served app; at the end, what every case started (tasks, handler threads) must
    have logged no error (checked here, as a Hypothesis example cannot wait for it)."""
    served = Wire().start()
    try:
        yield served
        no_alarms(served)
    finally:
        served.stop()


def no_alarms(wire: Wire, context: str = "") -> None:
    wire.settle()
    records = [f"{r.name} {r.levelname}: {r.getMessage()}" for r in wire.alarms.records]
    errors = [f"{c.get('message')} {c.get('exception')!r}" for c in wire.loop_errors]
    wire.alarms.records.clear()
    wire.loop_errors.clear()
    assert not records, (context, records)
    assert not errors, (context, errors)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_http_path_takes_any_request(wire: Wire, data: st.DataObject) -> None:
    case = data.draw(st.one_of(st.binary(max_size=512), spliced(HTTP_SEEDS)))
    cuts = cuts_for(case, random.Random(data.draw(st.integers())))
    assert wire.feed([(case, cuts)]) == []


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_websocket_path_takes_any_frames(wire: Wire, data: st.DataObject) -> None:
    frames = data.draw(st.one_of(st.binary(max_size=512), spliced(WS_FRAME_SEEDS)))
    case = upgrade_request() + frames
    cuts = cuts_for(case, random.Random(data.draw(st.integers())))
    assert wire.feed([(case, cuts)]) == []


@pytest.mark.parametrize("name", ["http", "websocket"])
def test_wire_mutation_run(wire: Wire, name: str) -> None:
    ran, failures = fuzz_wire(wire, name, 1_500, RUN_SEED, deadline=float("inf"))
    assert ran == 1_500
    assert not failures, f"seed {RUN_SEED}: {failures[:3]}"
    no_alarms(wire, f"seed {RUN_SEED}")


def test_a_close_frame_left_for_a_later_turn_is_read_before_the_end_of_input(wire: Wire) -> None:
    """Found by the mutation run: a close frame waits for the teardown's budget, then the
    client's end of input arrives with the start of another frame. The end of input was
    handled first, and the close frame then failed on an ended stream (an error logged)."""
    teardown = wire.server.endpoint.teardown
    budget, teardown.budget = teardown.budget, 0.0  # every connection's end waits a turn
    try:
        head = upgrade_request() + b"\x88\x82\0\0\0\0\x03\xe8"  # a masked close, 1000
        # The start of a frame comes in a read of its own (this harness's transport, unlike
        # a real one, still delivers reads after pause_reading).
        assert wire.feed([(head + b"\x81", [len(head)])]) == []
        no_alarms(wire)
    finally:
        teardown.budget = budget
