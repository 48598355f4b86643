#!/usr/bin/env python3
"""Peak memory of `upload` and `predictions` against a large project: the slope per task.

Starts Label Studio 1.23.2 on its production shape (PostgreSQL behind gunicorn, see
scripts/lsserver.py) on loopback and grows one project, with direct imports of 5,000 tasks
(each with one prediction and an lsimport key), to each size of --sizes. At each size:

- ``upload``: 1,000 tasks, half of them already in the project, with no journal: lsimport reads
  the key of every task of the project (paged) before it sends the other half;
- ``predictions``: 1,000 predictions for tasks of the project: lsimport reads the fingerprint
  of every prediction of the project (streamed) before it sends them.

Each run is a process of its own; its peak memory is the larger of its high-water mark and the
sampled RSS of its process tree (bench_postgres.run_measured). The table gives the peak at each
size and the slope between the sizes, per task of the project, and what that slope predicts
for 1,000,000 tasks.

    .venv/bin/python bench/bench_large_project.py                      # 100,000 and 300,000
    .venv/bin/python bench/bench_large_project.py --sizes 20000 60000  # a quick look

Measured (2 shared cores, one run each): upload 47.0 MB at 100,000 tasks and 53.3 MB at
300,000 (31 bytes per task: 75 MB at 1,000,000), predictions 47.3 and 51.2 MB (20 bytes per
task: 65 MB). lsimport's CPU was 1-9 s of each run; the rest of the wall time (88-437 s) is
the server reading the project back and saving.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from bench_postgres import LABEL_CONFIG, lsserver, run_measured
from common import compile_bytecode

from lsimport.send.keys import data_hash

REPO = Path(__file__).resolve().parent.parent
GROW_BATCH = 5000
SAMPLE = 1000
LIMIT_MB = 100.0


def task(i: int) -> dict[str, Any]:
    data = {"text": f"review {i}: {'good' if i % 3 else 'bad'} value for the price, item {i}"}
    return {
        "data": data,
        "meta": {"lsimport_key": data_hash(data)},
        "predictions": [
            {
                "model_version": "base",
                "score": 0.5,
                "result": [
                    {
                        "from_name": "sentiment",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["positive" if i % 2 else "negative"]},
                    }
                ],
            }
        ],
    }


def grow(http: httpx.Client, project: int, have: int, want: int) -> list[int]:
    """Import tasks have..want-1; return their ids."""
    ids: list[int] = []
    for start in range(have, want, GROW_BATCH):
        batch = [task(i) for i in range(start, min(want, start + GROW_BATCH))]
        answer = http.post(
            f"/api/projects/{project}/import", params={"return_task_ids": "true"}, json=batch
        )
        answer.raise_for_status()
        ids.extend(answer.json()["task_ids"])
        say(f"  project has {start + len(batch):,} tasks")
    return ids


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--shape", choices=lsserver.SHAPES, default="postgres")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    compile_bytecode()  # timed as installed: see its docstring
    sizes = sorted(args.sizes)
    lsserver.ensure_installed()
    work = Path(tempfile.mkdtemp(prefix="lsimport-bench-large-"))
    state = work / "state"
    info = lsserver.start(work / "ls-data", shape=args.shape, state=state)
    rows: list[dict[str, Any]] = []
    lsimport = str(REPO / ".venv" / "bin" / "lsimport")
    env = {**os.environ, "LABEL_STUDIO_URL": info.url, "LABEL_STUDIO_API_KEY": info.pat}
    try:
        auth = {"Authorization": f"Token {info.legacy_token}"}
        with httpx.Client(base_url=info.url, headers=auth, timeout=3600) as http:
            project = lsserver.create_project(info, "bench large project", LABEL_CONFIG)
            have, ids = 0, []
            fresh = 10_000_000  # tasks of the upload sample that are new: never in the project
            for size in sizes:
                say(f"growing project {project} to {size:,} tasks")
                ids += grow(http, project, have, size)
                have = size
                upload = work / f"upload-{size}.jsonl"
                old = [task(i) for i in range(SAMPLE // 2)]
                new = [task(fresh + i) for i in range(SAMPLE // 2)]
                fresh += SAMPLE
                upload.write_text("".join(json.dumps(t) + "\n" for t in old + new))
                preds = work / f"predictions-{size}.jsonl"
                step = max(1, len(ids) // SAMPLE)
                preds.write_text(
                    "".join(
                        json.dumps(
                            {
                                "task": tid,
                                "model_version": f"bench-{size}",
                                "result": task(0)["predictions"][0]["result"],
                            }
                        )
                        + "\n"
                        for tid in ids[::step][:SAMPLE]
                    )
                )
                for name, command in (
                    (
                        "upload",
                        [lsimport, "upload", str(upload), "-p", str(project), "--output", "json",
                         "--journal", str(work / f"journal-{size}")],
                    ),
                    (
                        "predictions",
                        [lsimport, "predictions", str(preds), "-p", str(project), "--output",
                         "json"],
                    ),
                ):  # fmt: skip
                    log = work / f"{name}-{size}.log"
                    seconds, peak, cpu, code = run_measured(command, env, log)
                    summary = json.loads(log.read_text().strip().splitlines()[-1])
                    say(f"  {name} at {size:,}: {peak:.1f} MB, {seconds:.1f} s, exit {code}")
                    rows.append(
                        {
                            "command": name,
                            "project_tasks": size,
                            "peak_mb": round(peak, 1),
                            "wall_s": round(seconds, 1),
                            "cpu_s": round(cpu, 1),
                            "exit": code,
                            "summary": summary,
                        }
                    )
                    if name == "upload":
                        have += SAMPLE // 2
    finally:
        lsserver.stop(info, state=state)
    print(
        f"Label Studio {lsserver.LS_VERSION}, shape {args.shape}; {os.cpu_count()} cores "
        f"shared by client and server; Python {platform.python_version()}"
    )
    print("| command | project tasks | peak MB | wall s | CPU s | exit |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['command']} | {r['project_tasks']:,} | {r['peak_mb']:.1f} | {r['wall_s']:.1f} "
            f"| {r['cpu_s']:.1f} | {r['exit']} |"
        )
    ok = all(r["exit"] == 0 for r in rows)
    for name in ("upload", "predictions"):
        mine = [r for r in rows if r["command"] == name]
        if len(mine) < 2:
            continue
        a, b = mine[0], mine[-1]
        slope = (b["peak_mb"] - a["peak_mb"]) * 1e6 / (b["project_tasks"] - a["project_tasks"])
        at_million = b["peak_mb"] + slope * (1_000_000 - b["project_tasks"]) / 1e6
        verdict = "PASS" if at_million < LIMIT_MB else "FAIL"
        print(
            f"{name}: {slope:.0f} bytes per project task between {a['project_tasks']:,} and "
            f"{b['project_tasks']:,}; 1,000,000 tasks -> {at_million:.0f} MB "
            f"(target < {LIMIT_MB:.0f} MB: {verdict})"
        )
        ok = ok and at_million < LIMIT_MB
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
