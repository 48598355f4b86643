"""Converted tasks in Label Studio's own editor (headless Chromium + Playwright).

Each format's tasks are uploaded into a project made with the config `--config-out` wrote,
and each task's labeling page is opened, its images served from loopback at their sizes:
every region must be in the result the editor would save (`serializeAnnotation()`), with
its type and value (numbers to 1e-3). Masks: one brush region (`brushregion`) per class in
the editor's store, with its label, and the saved RLE decodes (the SDK's brush decoder) to
the very masks converted: the editor read the RLE as lsimport meant it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.sync_api import Page

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data" / "convert"

READY = """() => {
  const store = window.Htx && window.Htx.annotationStore;
  return !!(store && store.predictions.length && store.predictions[0].regionStore.regions.length);
}"""
READ = """() => {
  const prediction = window.Htx.annotationStore.predictions[0];
  return {
    regions: prediction.regionStore.regions.map(r => ({type: r.type, labels: r.labels})),
    saved: prediction.serializeAnnotation(),
  };
}"""
DECODE = r"""
import json, sys
from label_studio_sdk.converter.brush import decode_rle

out = []
for r in json.loads(sys.stdin.read()):
    h, w = r["original_height"], r["original_width"]
    out.append(decode_rle(r["value"]["rle"]).reshape(h, w, 4)[:, :, 3].tolist())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def page(ls_server: Any, editor_login: Callable[[Any], Any]) -> Iterator[Page]:
    """A logged-in page of the session's Label Studio (one login for the module)."""
    page = editor_login(ls_server)
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for the images the tasks name: (root URL, directory)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/img", root
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


def provide_images(tasks: list[dict[str, Any]], base: str, root: Path) -> None:
    """An image of each task's size at the URL its data.image names (the editor places
    keypoints only on a loaded image)."""
    from PIL import Image

    for task in tasks:
        regions = [r for p in task.get("predictions", []) for r in p["result"]]
        url = task["data"].get("image")
        if not regions or not isinstance(url, str) or not url.startswith(base):
            continue
        size = (regions[0]["original_width"], regions[0]["original_height"])
        path = root / "img" / unquote(url[len(base) + 1 :])
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 150)).save(path, "PNG")


def sdk_decode(python: Path, regions: list[dict[str, Any]]) -> list[list[list[int]]]:
    done = subprocess.run(
        [str(python), "-c", DECODE], input=json.dumps(regions), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    decoded: list[list[list[int]]] = json.loads(done.stdout)
    return decoded


def test_the_editor_reads_converted_masks_as_they_were(
    ls_server: Any,
    lsserver: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    page: Page,
    tmp_path: Path,
) -> None:
    out, config = tmp_path / "tasks.jsonl", tmp_path / "config.xml"
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": ls_server.url,
        "LABEL_STUDIO_API_KEY": ls_server.pat,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    lsimport = [sys.executable, "-m", "lsimport"]
    masks = [SAMPLES / "masks" / "road.png", SAMPLES / "masks" / "junction.npy"]
    converted = subprocess.run(
        [*lsimport, "convert", "masks", *map(str, masks), "--classes", "1=road,2=car",
         "-o", str(out), "--config-out", str(config)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    pid = make_project(config.read_text(), "convert masks in the editor")
    uploaded = subprocess.run(
        [*lsimport, "upload", str(out), "--project", str(pid)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    tasks = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    python = lsserver.venv_dir() / "bin" / "python"
    for task, want in zip(sorted(tasks, key=lambda t: t["id"]), sent, strict=True):
        page.goto(f"{ls_server.url}/projects/{pid}/data?task={task['id']}")
        page.wait_for_function(READY, timeout=90_000)
        seen = page.evaluate(READ)
        regions = want["predictions"][0]["result"]
        assert [(r["type"], r["labels"]) for r in seen["regions"]] == [
            ("brushregion", r["value"]["brushlabels"]) for r in regions
        ]
        saved = [r for r in seen["saved"] if r["type"] == "brushlabels"]
        assert [r["value"]["brushlabels"] for r in saved] == [
            r["value"]["brushlabels"] for r in regions
        ]
        assert sdk_decode(python, saved) == sdk_decode(python, regions)


EDITOR_FORMATS = {
    "yolo-boxes": ("yolo", [SAMPLES / "yolo"]),
    "yolo-obb": ("yolo", [SAMPLES / "yolo-obb", "--obb"]),
    "yolo-polygons": ("yolo", [SAMPLES / "yolo-seg"]),
    "yolo-pose": ("yolo", [SAMPLES / "yolo-pose"]),
    "coco-results": (
        "coco",
        [SAMPLES / "coco" / "instances.json", SAMPLES / "coco" / "results.json"],
    ),
    "hf-text": ("hf", [SAMPLES / "hf" / "sentiment.jsonl"]),
    "hf-tokens": ("hf", [SAMPLES / "hf" / "ner.jsonl"]),
}
LOADED = """() => {
  const store = window.Htx && window.Htx.annotationStore;
  return !!(store && store.predictions.length);
}"""
SAVED = "() => window.Htx.annotationStore.predictions[0].serializeAnnotation()"


def same_value(got: Any, want: Any) -> bool:
    """Equal, numbers to 1e-3 (the editor keeps geometry as floats of its own)."""
    if isinstance(want, float | int) and not isinstance(want, bool):
        return isinstance(got, float | int) and abs(got - want) <= 1e-3
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same_value(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, dict):
        return isinstance(got, dict) and all(same_value(got.get(k), v) for k, v in want.items())
    return bool(got == want)


@pytest.mark.parametrize("name", list(EDITOR_FORMATS))
def test_the_editor_shows_every_converted_region_intact(
    name: str,
    ls_server: Any,
    make_project: Callable[..., int],
    ls_http: httpx.Client,
    page: Page,
    image_server: tuple[str, Path],
    tmp_path: Path,
) -> None:
    fmt, args = EDITOR_FORMATS[name]
    base, www = image_server
    out, config = tmp_path / "tasks.jsonl", tmp_path / "config.xml"
    env = {
        **os.environ,
        "LABEL_STUDIO_URL": ls_server.url,
        "LABEL_STUDIO_API_KEY": ls_server.pat,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    lsimport = [sys.executable, "-m", "lsimport"]
    converted = subprocess.run(
        [*lsimport, "convert", fmt, *map(str, args), "-o", str(out), "--config-out", str(config),
         "--image-root-url", base],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    provide_images(sent, base, www)
    pid = make_project(config.read_text(), f"convert {name} in the editor")
    uploaded = subprocess.run(
        [*lsimport, "upload", str(out), "--project", str(pid)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr
    tasks = ls_http.get("/api/tasks", params={"project": pid, "fields": "all"}).json()["tasks"]
    for task, want in zip(sorted(tasks, key=lambda t: t["id"]), sent, strict=True):
        if not want.get("predictions"):
            continue
        page.goto(f"{ls_server.url}/projects/{pid}/data?task={task['id']}")
        page.wait_for_function(LOADED, timeout=90_000)
        page.wait_for_timeout(500)  # regions are built right after the prediction
        saved = {r["id"]: r for r in page.evaluate(SAVED)}
        for region in want["predictions"][0]["result"]:
            got = saved.get(region["id"])
            assert got is not None, (
                f"{name}: region {region['id']} not in the editor: {list(saved.values())}"
            )
            assert got["type"] == region["type"], (name, got)
            assert same_value(got["value"], region["value"]), (name, got["value"], region["value"])
