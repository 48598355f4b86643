"""Attach 2,000 predictions to existing tasks: `lsimport predictions` vs single POSTs.

Label Studio's documented way is one `POST /api/predictions/` per prediction. Each repeat:

* a fresh project gets 2,000 image tasks (untimed);
* lsimport: `lsimport predictions FILE --project P --output json` as a whole process (start-up,
  reading the project's existing predictions, validating, sending, checking `created`);
  the run counts only if the server then holds all 2,000 predictions;
* single POSTs: a plain httpx loop of `POST /api/predictions/`, one per prediction, on a
  kept-alive connection. At about 8/s, 2,000 would take minutes per repeat, so a sample of
  --singles predictions is timed and its rate extrapolated to 2,000 (labelled so in the
  table). Only the loop is timed: no start-up, no reads, which favours this side.

The order alternates between repeats so background load falls on both sides alike.

    .venv/bin/python bench/bench_predictions.py [--size 2000] [--repeat 3] [--singles 200]

Also `run(ctx)` for bench/run.py. Needs Label Studio installed by scripts/lsserver.py; starts
its own server on a temporary data dir and stops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import (
    BenchError,
    Context,
    Section,
    Table,
    Target,
    compile_bytecode,
    load_lsserver,
    lsimport_command,
    run_measured,
)

SIZE = 2000
SINGLES = 200
TARGET_RATIO = 50.0
CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image">
    <Label value="cat"/><Label value="dog"/><Label value="bird"/>
  </RectangleLabels>
  <Choices name="scene" toName="image"><Choice value="indoor"/><Choice value="outdoor"/></Choices>
</View>"""
LABELS = ("cat", "dog", "bird")


def prediction(i: int, task: int, version: str) -> dict[str, Any]:
    """A realistic detector output: two boxes and a scene choice."""
    boxes = [
        {
            "id": f"b{i}-{k}",
            "from_name": "box",
            "to_name": "image",
            "type": "rectanglelabels",
            "original_width": 1280,
            "original_height": 720,
            "image_rotation": 0,
            "score": 0.5 + (i % 50) / 100,
            "value": {
                "x": (i * 7 + k * 13) % 60 + 0.5,
                "y": (i * 11 + k * 5) % 60 + 0.25,
                "width": 20.0 + k,
                "height": 15.5,
                "rotation": 0,
                "rectanglelabels": [LABELS[(i + k) % 3]],
            },
        }
        for k in range(2)
    ]
    choice = {
        "from_name": "scene",
        "to_name": "image",
        "type": "choices",
        "value": {"choices": ["indoor" if i % 2 else "outdoor"]},
    }
    return {"task": task, "result": [*boxes, choice], "score": 0.9, "model_version": version}


class PatAuth(httpx.Auth):
    """Bearer access tokens from a personal access token, renewed on 401 (they last 5 min)."""

    requires_response_body = True

    def __init__(self, url: str, pat: str) -> None:
        self.refresh_url = f"{url.rstrip('/')}/api/token/refresh/"
        self.pat = pat
        self.access = ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for attempt in range(2):
            if not self.access or attempt:
                answer = yield httpx.Request("POST", self.refresh_url, json={"refresh": self.pat})
                answer.raise_for_status()
                self.access = str(answer.json()["access"])
            request.headers["Authorization"] = f"Bearer {self.access}"
            response = yield request
            if response.status_code != 401:
                return


class Api:
    """A plain httpx client on the server, authenticated with a personal access token."""

    def __init__(self, url: str, pat: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120, auth=PatAuth(url, pat))

    def close(self) -> None:
        self.http.close()

    def new_project(self, title: str, size: int) -> tuple[int, list[int]]:
        answer = self.http.post("/api/projects/", json={"title": title, "label_config": CONFIG})
        answer.raise_for_status()
        pid = int(answer.json()["id"])
        tasks = [{"data": {"image": f"s3://bench/{i:06d}.jpg"}} for i in range(size)]
        answer = self.http.post(
            f"/api/projects/{pid}/import", params={"return_task_ids": "true"}, json=tasks
        )
        answer.raise_for_status()
        return pid, list(answer.json()["task_ids"])

    def count(self, pid: int, version: str) -> int:
        answer = self.http.get("/api/predictions/", params={"project": pid})
        answer.raise_for_status()
        return sum(1 for p in answer.json() if p["model_version"] == version)

    def post_singly(self, items: list[dict[str, Any]]) -> float:
        """The documented way: one POST per prediction. Returns the loop's seconds."""
        began = time.perf_counter()
        for item in items:
            answer = self.http.post("/api/predictions/", json=item)
            if answer.status_code != 201:
                raise BenchError(f"POST /api/predictions/ answered {answer.status_code}")
        return time.perf_counter() - began


@dataclass
class Measured:
    lsimport_s: list[float] = field(default_factory=list)  # whole process, `size` predictions
    pipeline_s: list[float] = field(default_factory=list)  # lsimport's own duration_s
    singles_s: list[float] = field(default_factory=list)  # the loop, `singles` predictions


def _run_lsimport(
    api: Api, env: dict[str, str], pid: int, path: Path, version: str, size: int
) -> tuple[float, float]:
    """One whole-process run; (wall seconds, lsimport's own duration_s). Checks what landed."""
    command = lsimport_command(
        "predictions", path, "--project", str(pid), "--output", "json", "--quiet"
    )
    run = run_measured(command, env=env, check=False)
    if run.returncode != 0:
        raise BenchError(f"lsimport: {run.describe_failure()}")
    summary = json.loads(run.stdout)
    landed = api.count(pid, version)
    if summary["predictions_created"] != size or landed != size:
        raise BenchError(
            f"lsimport: created {summary['predictions_created']}, the server holds {landed}, "
            f"wanted {size}"
        )
    return run.wall_s, float(summary["duration_s"])


def _run_singles(api: Api, pid: int, sample: list[dict[str, Any]], version: str) -> float:
    """The timed loop of single POSTs; checks that every one landed."""
    seconds = api.post_singly(sample)
    if api.count(pid, version) != len(sample):
        raise BenchError("single POSTs: not every prediction landed")
    return seconds


def measure(
    url: str,
    pat: str,
    *,
    size: int,
    repeat: int,
    singles: int,
    workdir: Path,
    say: Callable[[str], None],
) -> Measured:
    api = Api(url, pat)
    out = Measured()
    stamp = time.strftime("%H%M%S")
    env = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": pat}
    try:
        for r in range(repeat):
            pid, task_ids = api.new_project(f"bench predictions {stamp} r{r}", size)
            path = workdir / f"predictions-r{r}.jsonl"
            version = f"bench-{r}"
            with path.open("w") as fh:
                for i, tid in enumerate(task_ids):
                    fh.write(json.dumps(prediction(i, tid, version)) + "\n")
            sample = [prediction(i, tid, f"single-{r}") for i, tid in enumerate(task_ids[:singles])]

            for side in ("lsimport", "singles") if r % 2 == 0 else ("singles", "lsimport"):
                if side == "lsimport":
                    wall, pipeline = _run_lsimport(api, env, pid, path, version, size)
                    out.lsimport_s.append(wall)
                    out.pipeline_s.append(pipeline)
                    say(f"  lsimport #{r + 1}: {wall:.2f} s for {size:,}")
                else:
                    seconds = _run_singles(api, pid, sample, f"single-{r}")
                    out.singles_s.append(seconds)
                    say(f"  single POSTs #{r + 1}: {seconds:.2f} s for {len(sample):,}")
    finally:
        api.close()
    return out


def build_section(m: Measured, *, size: int, singles: int) -> Section:
    ls_median = statistics.median(m.lsimport_s)
    pipe_median = statistics.median(m.pipeline_s)
    single_median = statistics.median(m.singles_s)
    ls_rate = size / ls_median
    single_rate = singles / single_median
    ratio = ls_rate / single_rate
    table = Table(
        ["side", "predictions", "runs", "median s", "predictions/s", "s for 2,000", "ratio"],
        caption=f"attaching {size:,} predictions to existing tasks "
        f"(medians of {len(m.lsimport_s)} runs):",
    )
    table.rows.append(
        [
            "lsimport predictions (whole process)",
            f"{size:,}",
            str(len(m.lsimport_s)),
            f"{ls_median:.2f}",
            f"{ls_rate:,.0f}",
            f"{ls_median * 2000 / size:.1f}",
            f"{ratio:.0f}x",
        ]
    )
    table.rows.append(
        [
            "  of which read, check, send (duration_s)",
            f"{size:,}",
            str(len(m.pipeline_s)),
            f"{pipe_median:.2f}",
            f"{size / pipe_median:,.0f}",
            f"{pipe_median * 2000 / size:.1f}",
            f"{size / pipe_median / single_rate:.0f}x",
        ]
    )
    table.rows.append(
        [
            f"single POST /api/predictions/ loop (sample of {singles}, extrapolated)",
            f"{singles:,}",
            str(len(m.singles_s)),
            f"{single_median:.2f}",
            f"{single_rate:,.1f}",
            f"{2000 / single_rate:.1f}",
            "1x",
        ]
    )
    section = Section(
        f"predictions: {size:,} predictions to existing tasks, lsimport vs single POSTs"
    )
    section.tables.append(table)
    section.targets.append(
        Target(
            "lsimport predictions / single POSTs (whole process vs loop only)",
            f"{ratio:.0f}x",
            f">= {TARGET_RATIO:g}x",
            ratio >= TARGET_RATIO,
        )
    )
    section.notes.append(
        f"single POSTs: {singles} predictions timed per repeat, the loop only (no start-up, no "
        f"reads); 's for 2,000' extrapolates that rate. lsimport's time includes start-up, "
        f"reading the project's predictions (when it has any), validation, and checking "
        f"`created`."
    )
    section.data = {
        "size": size,
        "singles": singles,
        "lsimport_walls_s": [round(x, 3) for x in m.lsimport_s],
        "lsimport_pipeline_s": [round(x, 3) for x in m.pipeline_s],
        "singles_walls_s": [round(x, 3) for x in m.singles_s],
        "ratio": round(ratio, 1),
    }
    return section


def run(ctx: Context) -> Section:
    """For bench/run.py: 2,000 predictions, --repeat times, on the run's shared server."""
    server = ctx.server()
    workdir = ctx.options.workdir / "predictions"
    workdir.mkdir(parents=True, exist_ok=True)
    m = measure(
        server.url,
        server.pat,
        size=SIZE,
        repeat=ctx.options.repeat,
        singles=SINGLES,
        workdir=workdir,
        say=ctx.say,
    )
    return build_section(m, size=SIZE, singles=SINGLES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=SIZE, help="predictions per lsimport run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--singles", type=int, default=SINGLES, help="single POSTs timed per repeat"
    )
    args = parser.parse_args(argv)
    compile_bytecode()  # timed as installed: see its docstring
    if args.size < args.singles or args.singles < 1 or args.repeat < 1:
        parser.error("need --repeat >= 1 and 1 <= --singles <= --size")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    lsserver = load_lsserver()
    lsserver.ensure_installed(say=say)
    with tempfile.TemporaryDirectory(prefix="lsimport-bench-predictions-") as tmp:
        root = Path(tmp)
        state = root / "state"
        say("starting Label Studio on a fresh data dir")
        info = lsserver.start(root / "data", state=state, say=say)
        try:
            m = measure(
                info.url,
                info.pat,
                size=args.size,
                repeat=args.repeat,
                singles=args.singles,
                workdir=root,
                say=say,
            )
        finally:
            lsserver.stop(info, state=state)
    print(build_section(m, size=args.size, singles=args.singles).render(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
