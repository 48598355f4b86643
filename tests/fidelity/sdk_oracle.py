"""Label Studio's SDK as a test oracle, run in Label Studio's own venv (a subprocess: the SDK
is 500 MB with pandas and OpenCV, and no dependency of lsimport).

Cases go in as one JSON batch, so the SDK is imported once: `validate(predictions)` and
`template_samples()` below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

VALIDATE = """
import json, logging, sys
logging.disable(logging.CRITICAL)
from label_studio_sdk.label_interface import LabelInterface
interfaces = {}
out = []
for item in json.load(sys.stdin):
    config = item["config"]
    if config not in interfaces:
        interfaces[config] = LabelInterface(config)
    errors = interfaces[config].validate_prediction(item["prediction"], return_errors=True)
    out.append([str(e) for e in errors])
json.dump(out, sys.stdout)
"""

SAMPLES = """
import glob, json, logging, os, random, sys
logging.disable(logging.CRITICAL)
import yaml
import label_studio
from label_studio_sdk.label_interface import LabelInterface
root = os.path.join(os.path.dirname(label_studio.__file__), "annotation_templates")
out = []
for path in sorted(glob.glob(root + "/**/config.yml", recursive=True)):
    config = yaml.safe_load(open(path))["config"]
    li = LabelInterface(config)
    random.seed(int(sys.argv[1]))
    predictions = []
    for _ in range(int(sys.argv[2])):
        p = li.generate_sample_prediction()
        if p is not None:
            predictions.append(json.loads(json.dumps(p, default=str)))
    data = li.generate_sample_task()
    out.append({"name": os.path.relpath(os.path.dirname(path), root), "config": config,
                "data": json.loads(json.dumps(data, default=str)), "predictions": predictions})
json.dump(out, sys.stdout)
"""


@cache
def ls_python() -> Path:
    """Label Studio's python, installed first on a new machine (scripts/lsserver.py install)."""
    installed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lsserver.py"), "install"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert installed.returncode == 0, installed.stderr
    return Path(installed.stdout.strip().splitlines()[-1]) / "bin" / "python"


def _run(script: str, stdin: str, *args: str) -> Any:
    done = subprocess.run(
        [str(ls_python()), "-c", script, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def validate(items: list[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """The SDK's `validate_prediction(p, return_errors=True)` for each (config, prediction)."""
    payload = json.dumps([{"config": c, "prediction": p} for c, p in items])
    result: list[list[str]] = _run(VALIDATE, payload)
    return result


@cache
def template_samples(seed: int = 0, per_template: int = 3) -> list[dict[str, Any]]:
    """Every labeling template shipped in Label Studio, with the SDK's sample task data and
    `per_template` of its sample predictions (`generate_sample_prediction`, seeded)."""
    result: list[dict[str, Any]] = _run(SAMPLES, "", str(seed), str(per_template))
    return result
