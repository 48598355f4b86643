"""The pieces the settling sender is made of: compact digest sets, streamed answers, the
server's pace and what it learns from a gateway, and batches sent on time from a pipe."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from lsimport.errors import OutcomeUnknown
from lsimport.run import flush_interval
from lsimport.send.answers import iter_json_array
from lsimport.send.batching import Flush, with_flushes
from lsimport.send.digests import DigestSet, IdSet, key_digest
from lsimport.send.sender import SETTLE_MIN, Pace, server_finished
from lsimport.settings import DEFAULT_FLUSH_INTERVAL

# --- DigestSet ---


def test_a_digest_set_behaves_like_a_set_of_digests() -> None:
    digests = [os.urandom(16) for _ in range(5000)]
    s = DigestSet()
    assert all(s.add(d) for d in digests)
    assert not s.add(digests[0])
    assert len(s) == 5000 and all(d in s for d in digests)
    assert os.urandom(16) not in s and b"short" not in s
    for d in digests[:100]:
        s.discard(d)
    s.discard(digests[0])  # twice: nothing happens
    assert len(s) == 4900 and digests[0] not in s and digests[100] in s
    assert s.add(digests[0]) and digests[0] in s
    # the slot markers themselves are digests like any other
    for odd in (bytes(16), b"\xff" * 16):
        assert odd not in s and s.add(odd) and odd in s
    assert sorted(s) == sorted([*digests[100:], digests[0], bytes(16), b"\xff" * 16])
    with pytest.raises(ValueError):
        s.add(b"too short")


def test_a_million_digests_fit_in_32_mb() -> None:
    s = DigestSet(capacity=1_000_000)
    assert s.nbytes == 32 * 1024 * 1024


def test_key_digests_are_stable() -> None:
    assert key_digest("a") == key_digest("a") != key_digest("b")
    assert len(key_digest("x" * 1000)) == 16


# --- a long answer, streamed ---


@pytest.mark.parametrize("size", [1, 3, 64, 1 << 16])
def test_a_json_array_is_parsed_element_by_element_whatever_the_chunks(size: int) -> None:
    data = [
        {"id": i, "result": [{"id": 'r"}]{', "value": {"x": [1, 2, {"a": "b\\\\"}]}}]}
        for i in range(300)
    ]
    raw = orjson.dumps(data)
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    assert list(iter_json_array(chunks)) == data


def test_an_answer_that_is_not_one_array_is_an_error() -> None:
    assert list(iter_json_array([b" [ ", b"] "])) == []
    for bad in ([b"{}"], [b"[{}"], [b'[{"a": 1]'], [b"[]", b"[]"]):
        with pytest.raises(ValueError):
            list(iter_json_array(bad))


def test_memory_holds_one_element_at_a_time() -> None:
    element = orjson.dumps({"result": "x" * 1000})

    def chunks() -> Iterator[bytes]:
        yield b"["
        for i in range(2000):
            yield (b"," if i else b"") + element

        yield b"]"

    parsed = iter_json_array(chunks())
    assert sum(1 for _ in parsed) == 2000  # and the buffer never held more than one


# --- the pace of this server, and a gateway in front of it ---


def test_the_settle_time_comes_from_the_server_s_pace() -> None:
    pace = Pace()
    assert pace.settle_time(10) == SETTLE_MIN  # before anything was measured: the floor
    assert pace.settle_time(12000) == pytest.approx(3 * (1 + 12000 * 0.005))
    pace.took(1000, 2.0)  # 2 ms a task here
    assert pace.settle_time(4000) == pytest.approx(3 * (1 + 8.0))
    pace.took(1000, 1.0)  # the slowest pace counts
    assert pace.settle_time(4000) == pytest.approx(3 * (1 + 8.0))
    assert Pace(settle_timeout=42).settle_time(10**6) == 42


def test_a_gateway_that_gives_up_first_cuts_later_batches() -> None:
    pace = Pace()
    assert pace.batch_limit() is None
    # 4,000 tasks, 504 after 1 s, landed 4 s after they were sent: 1 ms a task
    limit = pace.gave_up(4000, 1.0, 4.0)
    assert (limit.timeout_s, limit.batch_size) == (1.0, 500)  # half the timeout: 0.5 s
    assert pace.batch_limit() == 500
    # a busy moment: a batch of 500 timed out too; halved, never grown from it
    assert pace.gave_up(500, 1.2, 3.0).batch_size == 250
    assert pace.gateway is not None and pace.gateway.timeout_s == 1.0


def test_only_a_500_from_the_server_itself_means_it_is_done() -> None:
    assert server_finished(OutcomeUnknown("x", status=500))
    for status in (502, 504, None, 201):
        assert not server_finished(OutcomeUnknown("x", status=status))


# --- batches on time, for producers that write now and then ---


def test_a_batch_is_flushed_when_it_has_waited_long_enough() -> None:
    gate = threading.Event()

    def slow() -> Iterator[int]:
        yield 1
        gate.wait(5)  # the producer is silent
        yield 2

    due = [time.monotonic() + 0.2]
    out: list[object] = []
    for item in with_flushes(slow(), 0.2, lambda: due[0], clock=time.monotonic):
        out.append(item)
        if isinstance(item, Flush):
            due[0] = time.monotonic() + 3600  # flushed: nothing due for a while
            gate.set()
    assert [type(x).__name__ if isinstance(x, Flush) else x for x in out] == [1, "Flush", 2]


def test_without_an_interval_items_pass_straight_through() -> None:
    assert list(with_flushes(iter([1, 2, 3]), None, lambda: 0.0, clock=time.monotonic)) == [
        1,
        2,
        3,
    ]


def test_a_stop_ends_a_silent_input() -> None:
    stop = threading.Event()

    def silent() -> Iterator[int]:
        yield 1
        time.sleep(30)
        yield 2  # pragma: no cover - never reached

    items = with_flushes(silent(), 5.0, lambda: None, clock=time.monotonic, stopped=stop.is_set)
    assert next(items) == 1
    stop.set()
    began = time.monotonic()
    assert list(items) == []
    assert time.monotonic() - began < 2


def test_an_error_while_reading_reaches_the_consumer() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(with_flushes(broken(), 1.0, lambda: None, clock=time.monotonic))


def test_the_flush_interval_is_on_for_pipes_and_off_for_files(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text('{"data": {}}\n')
    assert flush_interval([str(path)], None) is None
    assert flush_interval(["-"], None) == DEFAULT_FLUSH_INTERVAL
    assert flush_interval([str(path)], 2.0) == 2.0
    assert flush_interval(["-"], 0) is None
    assert flush_interval(["project 3"], None) is None  # `copy`: no file, no pipe
    fifo = tmp_path / "pipe"  # a named pipe is a pipe too
    os.mkfifo(fifo)
    assert flush_interval([str(fifo)], None) == DEFAULT_FLUSH_INTERVAL


def test_task_ids_are_a_bitmap() -> None:
    ids = IdSet([5, 1_000_000, 5, 0])
    assert len(ids) == 3
    assert 5 in ids and 0 in ids and 1_000_000 in ids
    assert 6 not in ids and 2_000_000 not in ids and -1 not in ids and "5" not in ids
    assert ids._bits.__len__() <= 2 * 125_001  # one bit per id up to the largest


def test_key_set_holds_digests_and_normalises_both_sides() -> None:
    from lsimport.send.digests import KeySet
    from lsimport.send.keys import base_key

    plain = KeySet()
    plain.update(["a", "a#2"])
    assert "a" in plain and "a#2" in plain and "a#3" not in plain and 1 not in plain
    plain.discard("a")
    assert "a" not in plain and len(plain) == 1
    dedupe = KeySet(base_key)
    dedupe.add("b#2")  # a later occurrence in the project: its data are there
    assert "b" in dedupe and "b#5" in dedupe and "c" not in dedupe
