"""Where an upload's wall time went: the request timer, the summary's `timing`, its text."""

from __future__ import annotations

import io
import threading
import tracemalloc

import httpx
import orjson

from lsimport.model import Timing, UploadSummary
from lsimport.report.failures import FailureReport
from lsimport.report.reporters import render_upload
from lsimport.send.batching import item_json
from lsimport.send.client import LabelStudioClient
from lsimport.send.timing import RequestTimer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_timer_counts_the_time_with_any_request_in_flight_once() -> None:
    clock = Clock()
    timer = RequestTimer(clock)
    with timer.request():  # 100 -> 102, and a second one overlapping 101 -> 103
        clock.now = 101.0
        second = timer.request()
        second.__enter__()
        clock.now = 102.0
    assert timer.busy_s() == 0.0 + 2.0  # the open stretch counts while it is open
    clock.now = 103.0
    second.__exit__(None, None, None)
    clock.now = 110.0  # nothing in flight: lsimport's time, not the server's
    with timer.request():
        clock.now = 110.5
    assert timer.busy_s() == 3.5
    assert timer.requests == 3


def test_the_timer_is_thread_safe() -> None:
    timer = RequestTimer(Clock())

    def many() -> None:
        for _ in range(2000):
            with timer.request():
                pass

    threads = [threading.Thread(target=many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert timer.requests == 8000
    assert timer.busy_s() == 0.0


def test_the_client_times_every_request_it_sends_with_its_clock() -> None:
    clock = Clock()

    def answer(request: httpx.Request) -> httpx.Response:
        clock.now += 0.25  # the server takes a quarter of a second
        return httpx.Response(200, json={"id": 3})

    transport = httpx.MockTransport(answer)
    legacy = "0123456789abcdef0123456789abcdef01234567"
    with LabelStudioClient("http://ls.test", legacy, transport=transport, clock=clock) as client:
        client.get_project(3)
        clock.now += 1.0  # lsimport at work between requests
        client.get_project(3)
    assert client.timer.requests == 2
    assert client.timer.busy_s() == 0.5


def test_timing_in_the_json_summary_and_in_the_text() -> None:
    timing = Timing(wall_s=10.0, server_s=9.25, requests=12)
    assert timing.client_s == 0.75
    summary = UploadSummary(records=4, tasks_created=4, duration_s=9.9, timing=timing)
    assert summary.as_dict()["timing"] == {
        "wall_s": 10.0,
        "server_s": 9.25,
        "client_s": 0.75,
        "requests": 12,
    }
    out = io.StringIO()
    render_upload(summary, FailureReport(None), "text", out, io.StringIO())
    assert out.getvalue().startswith(
        "4 task(s) created with 0 prediction(s) in 9.9 s (0/s, 92% of the time waiting for the "
        "server); 4 record(s) read"
    )
    assert "timing" not in UploadSummary().as_dict()  # no server asked (library callers)


def test_an_item_waiting_in_a_batch_holds_its_json_and_no_more() -> None:
    task = {"data": {"text": "x" * 600}, "meta": {"lsimport_key": "k" * 32}}
    assert item_json(task) == orjson.dumps(task)
    tracemalloc.start()
    try:
        held = [item_json(task) for _ in range(200)]
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(held) == 200
    assert size / 200 < 1.2 * len(held[0]) + 100  # orjson's own result: 4 KB each
