"""Converted brush masks in Label Studio's own editor (headless Chromium + Playwright).

The masks' tasks are uploaded into a project made with the config `--config-out` wrote;
then the labeling page of each task is opened, and the editor's store (`window.Htx`) must
hold one brush region (`brushregion`) per class with its label, and the result it would save
(`serializeAnnotation()`) must decode, with the SDK's brush decoder, to the very masks
converted: the editor read the RLE as lsimport meant it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_data" / "convert"
CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser downloads are not used

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


def ensure_chromium() -> str:
    """Debian's chromium, apt-installed when missing (as root, like lsserver's PostgreSQL)."""
    if not Path(CHROMIUM).exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        print("test: apt-get install chromium (a minute or two)", file=sys.stderr)
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium"],
        ):
            subprocess.run(command, check=True, capture_output=True, timeout=900)
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    return CHROMIUM


@pytest.fixture
def page(ls_server: Any) -> Iterator[Page]:
    """A logged-in page of the session's Label Studio."""
    chromium = ensure_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{ls_server.url}/user/login/")
        page.fill("input[name=email]", ls_server.username)
        page.fill("input[name=password]", ls_server.password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        yield page
        browser.close()


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
