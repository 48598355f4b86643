"""lsimport.validate() says what `lsimport validate --output json` says, record for record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import lsimport
from lsimport.errors import ServerError, UsageError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "sample_data" / "ner" / "config.xml"


def _tasks() -> list[object]:
    span = {"from_name": "label", "to_name": "text", "type": "labels"}
    return [
        {"data": {"text": "Ada"}},
        {"text": "data only"},
        [1, 2],
        {"data": {"text": "Ada"}, "predictions": [{"result": [{**span, "value": {"start": 0}}]}]},
        {
            "data": {"text": "Ada"},
            "predictions": [
                {"result": [{**span, "value": {"start": 0, "end": 3, "labels": ["Nope"]}}]}
            ],
        },
    ]


def test_validate_agrees_with_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in _tasks()))
    done = subprocess.run(
        [sys.executable, "-m", "lsimport", "validate", str(path), "-c", str(CONFIG), "-o", "json"],
        capture_output=True,
        text=True,
    )
    cli = json.loads(done.stdout)
    seen: list[lsimport.Problem] = []
    api = lsimport.validate(
        _tasks(), label_config=CONFIG.read_text(), name=str(path), on_problem=seen.append
    )
    assert (api.valid, api.invalid) == (cli["valid"], cli["invalid"]) != (0, 0)
    keys = ("record", "pointer", "code", "severity", "message")
    assert [{k: getattr(p, k) for k in keys} for p in api.problems] == [
        {k: p[k] for k in keys} for p in cli["problems"]
    ]
    assert list(api.problems) == seen


def test_validate_streams_a_generator_and_keeps_a_bounded_number_of_problems() -> None:
    tasks = ({"data": "x"} if i % 2 else {"data": {"text": "ok"}} for i in range(5000))
    counted: list[lsimport.Problem] = []
    result = lsimport.validate(tasks, keep=10, on_problem=counted.append)
    assert result.records == 5000
    assert len(result.problems) == 10 and len(counted) == result.invalid == 2500


def test_a_bad_config_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        lsimport.validate([], label_config="<View><Nope")


def test_upload_raises_when_the_server_cannot_be_used() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"detail": "Invalid token."})

    with pytest.raises(ServerError):
        lsimport.upload(
            [{"data": {"text": "a"}}],
            project=1,
            url="http://127.0.0.1:9",
            api_key="0123456789abcdef0123456789abcdef01234567",
            transport=httpx.MockTransport(refuse),
        )


def test_upload_needs_a_server() -> None:
    with pytest.raises(UsageError):
        lsimport.upload([], project=1, url="", api_key="")
