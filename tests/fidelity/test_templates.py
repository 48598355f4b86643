"""Every labeling template shipped in Label Studio 1.23.2 (label_studio/annotation_templates,
69 of them), with the SDK's own sample predictions (`generate_sample_prediction`).

The samples must pass lsimport, and a broken variant of each control's region in each
template must fail it: wrong from_name, wrong type, a label not in the config, a value of
the wrong shape. Generated, not hand-listed: a template Label Studio adds is covered.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker

from .sdk_oracle import template_samples

# The SDK's generator is random (jsf over each control's JSON schema): it writes text spans
# backwards and XPaths as numbers, which the editor cannot place either. These are the only
# errors lsimport may find in its samples, each a documented difference
# (docs/sdk-differences.md) or config.span (start > end on a <Text>).
SAMPLE_ERRORS_ALLOWED = {
    ("config.span", "labels"),  # start > end on a <Text> (and on <Image> in split format)
    ("config.value-type", "hypertextlabels"),  # XPath start/end generated as numbers
    ("config.value-type", "paragraphlabels"),  # paragraph indexes generated as numbers
    ("config.value", "keypointlabels"),  # no width: the editor does not show the point
}


@pytest.fixture(scope="module")
def templates() -> list[dict[str, Any]]:
    return template_samples(seed=0, per_template=3)


def _region_type(task: dict[str, Any], pointer: str) -> str:
    _, _, p, _, r, *_ = pointer.split("/")
    region: dict[str, Any] = task["predictions"][int(p)]["result"][int(r)]
    return str(region.get("type"))


def test_all_templates_are_there(templates: list[dict[str, Any]]) -> None:
    assert len(templates) >= 65
    with_samples = [t for t in templates if any(p["result"] for p in t["predictions"])]
    assert len(with_samples) >= 55


def test_sdk_samples_pass(templates: list[dict[str, Any]]) -> None:
    unexpected: Counter[tuple[str, str, str]] = Counter()
    for t in templates:
        checker = TaskChecker(parse_label_config(t["config"]))
        for prediction in t["predictions"]:
            task = {"data": t["data"], "predictions": [prediction]}
            for f in checker.check_fully(task):
                if not f.is_error or not f.pointer.startswith("/predictions/"):
                    continue  # the SDK's sample data leaves dynamic $variables null
                kind = (f.code, _region_type(task, f.pointer))
                if kind not in SAMPLE_ERRORS_ALLOWED:
                    unexpected[(t["name"], *kind)] += 1
    assert dict(unexpected) == {}


def _variants(region: dict[str, Any], labeled: bool) -> list[tuple[str, dict[str, Any]]]:
    out = [
        ("from_name", {**region, "from_name": region["from_name"] + "_nope"}),
        ("type", {**region, "type": region["type"] + "_nope"}),
        ("value shape", {**region, "value": {}}),
    ]
    if labeled:
        value = copy.deepcopy(region["value"])
        for key, labels in value.items():
            if isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
                value[key] = ["no such label"]
                out.append(("label", {**region, "value": value}))
                break
            if isinstance(labels, list) and labels and isinstance(labels[0], list):
                value[key] = [["no such label"]]
                out.append(("label", {**region, "value": value}))
                break
    return out


def test_a_broken_region_of_each_control_fails(templates: list[dict[str, Any]]) -> None:
    tried: Counter[str] = Counter()
    missed = []
    for t in templates:
        config = parse_label_config(t["config"])
        checker = TaskChecker(config)
        seen: set[str] = set()
        for prediction in t["predictions"]:
            for region in prediction["result"]:
                name = region.get("from_name")
                if name in seen or region.get("type") == "relation":
                    continue
                seen.add(name)
                ctrl = config.controls[name]
                labeled = bool(ctrl.labels) and ctrl.row is not None and ctrl.row.label_key
                for what, broken in _variants(region, bool(labeled)):
                    task = {"data": t["data"], "predictions": [{"result": [broken]}]}
                    errors = [
                        f
                        for f in checker.check_fully(task)
                        if f.is_error and "/result/0" in f.pointer
                    ]
                    tried[what] += 1
                    if not errors:
                        missed.append((t["name"], name, what))
    assert missed == []
    assert min(tried.values()) >= 40, tried
