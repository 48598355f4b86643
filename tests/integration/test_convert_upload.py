"""Every format's `lsimport convert` output, uploaded into a real Label Studio 1.23.2.

The project is created with the config `--config-out` wrote (Label Studio must accept it),
the tasks go in through `lsimport upload`, and what the server then holds is read back:
every region exactly as converted, and each prediction passing Label Studio's own check
(the SDK's `LabelInterface.validate_prediction`, in Label Studio's venv) against the
project's config.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from clirun import cli_env, run_cli

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data" / "convert"

FORMATS: dict[str, tuple[str, list[str | Path]]] = {
    "yolo-boxes": ("yolo", [SAMPLES / "yolo"]),
    "yolo-predict": ("yolo", [SAMPLES / "yolo-predict", "--classes", "person,car"]),
    "yolo-polygons": ("yolo", [SAMPLES / "yolo-seg"]),
    "yolo-obb": ("yolo", [SAMPLES / "yolo-obb", "--obb"]),
    "yolo-pose": ("yolo", [SAMPLES / "yolo-pose"]),
    "coco": ("coco", [SAMPLES / "coco" / "instances.json"]),
    "coco-results": (
        "coco",
        [SAMPLES / "coco" / "instances.json", SAMPLES / "coco" / "results.json"],
    ),
    "masks": ("masks", [SAMPLES / "masks", "--classes", "1=road,2=car"]),
    "hf-text": ("hf", [SAMPLES / "hf" / "sentiment.jsonl"]),
    "hf-tokens": ("hf", [SAMPLES / "hf" / "ner.jsonl"]),
    "hf-boxes": ("hf", [SAMPLES / "hf" / "detections.jsonl"]),
    "hf-image": ("hf", [SAMPLES / "hf" / "image-classes.jsonl"]),
    "mot": ("mot", [SAMPLES / "mot" / "MOT17-02"]),
}

SDK_CHECK = r"""
import json, sys
from label_studio_sdk.label_interface import LabelInterface

config, tasks = json.loads(sys.stdin.read())
li = LabelInterface(config)
print(json.dumps([
    [str(e) for e in li.validate_prediction(p, return_errors=True)]
    for t in tasks for p in t["predictions"]
]))
"""


def project_tasks(http: httpx.Client, pid: int) -> list[dict[str, Any]]:
    answer = http.get("/api/tasks", params={"project": pid, "page_size": 100, "fields": "all"})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["tasks"], key=lambda t: t["id"])


@pytest.mark.parametrize("name", list(FORMATS))
def test_converted_tasks_land_with_every_region_intact(
    name: str,
    ls_server: Any,
    lsserver: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    tmp_path: Path,
) -> None:
    fmt, args = FORMATS[name]
    out, config = tmp_path / "tasks.jsonl", tmp_path / "config.xml"
    converted = run_cli(
        ls_server,
        "convert",
        fmt,
        *args,
        "-o",
        out,
        "--config-out",
        config,
        cwd=tmp_path,
    )
    assert converted.status == 0, converted.stderr
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    pid = make_project(config.read_text(), f"convert {name}")  # Label Studio takes the config

    uploaded = run_cli(
        ls_server,
        "upload",
        out,
        "--project",
        str(pid),
        "--output",
        "json",
        cwd=tmp_path,
        timeout=300,
    )
    assert uploaded.status == 0, uploaded.stderr
    summary = json.loads(uploaded.stdout)
    assert summary["tasks_created"] == len(sent)
    assert summary["predictions_created"] == sum(len(t.get("predictions", [])) for t in sent)

    landed = project_tasks(ls_http, pid)
    assert [t["data"] for t in landed] == [t["data"] for t in sent]
    for got, want in zip(landed, sent, strict=True):
        assert [p["result"] for p in got["predictions"]] == [
            p["result"] for p in want.get("predictions", [])
        ]
        assert [p["score"] for p in got["predictions"]] == [
            p.get("score") for p in want.get("predictions", [])
        ]

    label_config = ls_http.get(f"/api/projects/{pid}").json()["label_config"]
    checked = subprocess.run(
        [str(lsserver.venv_dir() / "bin" / "python"), "-c", SDK_CHECK],
        input=json.dumps([label_config, landed]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == [[] for t in landed for _ in t["predictions"]]


PHOTO_CONFIG = """<View>
  <Image name="photo" value="$image"/>
  <RectangleLabels name="boxes" toName="photo">
    <Label value="person"/><Label value="car"/>
  </RectangleLabels>
</View>"""


def test_project_config_names_the_regions_and_convert_pipes_into_upload(
    ls_server: Any, make_project: Callable[..., int], ls_http: httpx.Client, tmp_path: Path
) -> None:
    pid = make_project(PHOTO_CONFIG, "convert pipe")
    env = cli_env(ls_server, tmp_path)
    lsimport = f"{sys.executable} -m lsimport"
    done = subprocess.run(
        f"{lsimport} convert yolo {SAMPLES / 'yolo-predict'} --classes person,car --project {pid}"
        f" | {lsimport} upload - --project {pid} --output json",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks_created"] == 2
    regions = [r for t in project_tasks(ls_http, pid) for r in t["predictions"][0]["result"]]
    assert len(regions) == 3
    assert {(r["from_name"], r["to_name"]) for r in regions} == {("boxes", "photo")}
    assert ls_server.pat not in done.stderr
