"""The hand-written `check_structure` gives the same verdicts as jsonschema on the schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lsimport.check.structure import check_structure, load_schema, schema_text

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(load_schema())


def agree(task: dict[str, Any]) -> None:
    """Same verdict as jsonschema; every finding an error whose pointer's parent exists."""
    findings = check_structure(task)
    expected_valid = VALIDATOR.is_valid(task)
    assert (not findings) == expected_valid, (
        f"check_structure says {findings!r}, jsonschema says "
        f"{[e.message for e in VALIDATOR.iter_errors(task)]!r} for {task!r}"
    )
    for f in findings:
        assert f.severity == "error"
        assert f.code.startswith("schema.")
        assert f.pointer.startswith("/")
        parent = f.pointer.split("/")[1:-1]
        node: Any = task
        for token in parent:
            node = node[int(token)] if isinstance(node, list) else node[token]


# --- the schema file itself ---------------------------------------------------------------


def test_repo_schema_is_the_packaged_schema_byte_for_byte() -> None:
    top = (ROOT / "schemas" / "task.schema.json").read_bytes()
    packaged = (ROOT / "lsimport" / "schemas" / "task.schema.json").read_bytes()
    assert top == packaged
    assert schema_text().encode("utf-8") == packaged


def test_schema_is_valid_against_the_2020_12_metaschema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    # and it is what the validator class for its own $schema would pick
    assert jsonschema.validators.validator_for(schema) is jsonschema.Draft202012Validator


# --- hand-picked cases -----------------------------------------------------------------------

REGION = {
    "id": "r1",
    "from_name": "label",
    "to_name": "image",
    "type": "rectanglelabels",
    "value": {"x": 1, "y": 2, "width": 3, "height": 4, "rectanglelabels": ["Car"]},
    "original_width": 640,
    "original_height": 480,
    "image_rotation": 0,
    "score": 0.5,
}
RELATION = {"type": "relation", "from_id": "r1", "to_id": 2, "direction": "right", "labels": ["x"]}
VALID_TASKS: list[dict[str, Any]] = [
    {"data": {}},
    {"data": {"text": "hello"}, "meta": {}},
    {"data": {"image": "x.png"}, "predictions": [], "annotations": []},
    {
        "data": {"image": "x.png"},
        "predictions": [
            {"result": [REGION, {**REGION, "id": 2}, RELATION], "score": 1, "model_version": "v1"}
        ],
        "annotations": [
            {"result": [copy.deepcopy(REGION)], "score": "anything goes in annotations"}
        ],
    },
    {"data": {"t": 1}, "predictions": [{"result": [], "score": 0}]},
    {
        "data": {"t": 1},
        "predictions": [{"result": [{"type": "relation", "from_id": 1, "to_id": 2}]}],
    },
]


@pytest.mark.parametrize("task", VALID_TASKS)
def test_valid_tasks(task: dict[str, Any]) -> None:
    assert VALIDATOR.is_valid(task)
    assert check_structure(task) == []


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """VALID_TASKS[3] with the value at `path` (a JSON pointer) replaced, or deleted if ...."""
    task = copy.deepcopy(base or VALID_TASKS[3])
    *parents, last = path.strip("/").split("/")
    node: Any = task
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    key: Any = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return task


P = "/predictions/0"
R = f"{P}/result/0"
REL = f"{P}/result/2"


@pytest.mark.parametrize(
    ("task", "code", "pointer"),
    [
        ({"data": []}, "schema.data", "/data"),
        ({"data": "text"}, "schema.data", "/data"),
        ({"data": None}, "schema.data", "/data"),
        ({"meta": {}}, "schema.data", "/data"),
        ({"data": {}, "meta": "x"}, "schema.meta", "/meta"),
        ({"data": {}, "predictions": {}}, "schema.predictions", "/predictions"),
        ({"data": {}, "annotations": "x"}, "schema.annotations", "/annotations"),
        ({"data": {}, "predictions": [1]}, "schema.prediction", "/predictions/0"),
        ({"data": {}, "annotations": [{}]}, "schema.annotation", "/annotations/0/result"),
        ({"data": {}, "predictions": [{}]}, "schema.prediction", "/predictions/0/result"),
        (_with(f"{P}/result", {}), "schema.result", f"{P}/result"),
        (_with(f"{P}/score", 1.5), "schema.score", f"{P}/score"),
        (_with(f"{P}/score", -0.01), "schema.score", f"{P}/score"),
        (_with(f"{P}/score", True), "schema.score", f"{P}/score"),
        (_with(f"{P}/score", [0.5]), "schema.score", f"{P}/score"),
        (_with(f"{P}/model_version", True), "schema.model_version", f"{P}/model_version"),
        (_with(R, "a region"), "schema.region", R),
        (_with(R, None), "schema.region", R),
        (_with(f"{R}/from_name", ...), "schema.region", f"{R}/from_name"),
        (_with(f"{R}/value", ...), "schema.region", f"{R}/value"),
        (_with(f"{R}/type", ...), "schema.region", f"{R}/type"),
        (_with(f"{R}/to_name", 7), "schema.region", f"{R}/to_name"),
        (_with(f"{R}/type", 7), "schema.region", f"{R}/type"),
        (_with(f"{R}/value", []), "schema.region", f"{R}/value"),
        (_with(f"{R}/id", True), "schema.region", f"{R}/id"),
        (_with(f"{R}/id", None), "schema.region", f"{R}/id"),
        (_with(f"{R}/id", 1.5), "schema.region", f"{R}/id"),
        (_with(f"{R}/original_width", -1), "schema.region", f"{R}/original_width"),
        (_with(f"{R}/original_height", "480"), "schema.region", f"{R}/original_height"),
        (_with(f"{R}/original_width", False), "schema.region", f"{R}/original_width"),
        (_with(f"{R}/score", "high"), "schema.region", f"{R}/score"),
        (_with(f"{R}/image_rotation", True), "schema.region", f"{R}/image_rotation"),
        (_with(f"{REL}/from_id", ...), "schema.relation", f"{REL}/from_id"),
        (_with(f"{REL}/to_id", None), "schema.relation", f"{REL}/to_id"),
        (_with(f"{REL}/to_id", False), "schema.relation", f"{REL}/to_id"),
        (_with(f"{REL}/direction", "up"), "schema.relation", f"{REL}/direction"),
        (_with(f"{REL}/labels", "x"), "schema.relation", f"{REL}/labels"),
        (_with(f"{REL}/labels", ["x", 1]), "schema.relation", f"{REL}/labels"),
    ],
)
def test_invalid_tasks(task: dict[str, Any], code: str, pointer: str) -> None:
    assert not VALIDATOR.is_valid(task)
    findings = check_structure(task)
    assert [(f.code, f.pointer) for f in findings] == [(code, pointer)]


@pytest.mark.parametrize(
    "task",
    [
        # JSON Schema counts 1.0 as an integer: an id written by a float-happy tool is still an id
        _with(f"{R}/id", 1.0),
        _with(f"{REL}/from_id", 3.0),
        # a relation region needs nothing of a normal region
        _with(REL, {"type": "relation", "from_id": "a", "to_id": "b", "value": 1}),
        # integral floats and ints are numbers; 0 and 1 are inside the score range
        _with(f"{P}/score", 0.0),
        _with(f"{R}/original_width", 0),
        # keys the schema does not name are allowed
        _with(f"{R}/origin", "manual"),
        _with("/extra", {"anything": True}),
    ],
)
def test_edge_cases_that_are_valid(task: dict[str, Any]) -> None:
    agree(task)
    assert check_structure(task) == []


# --- the property: same verdict on arbitrary task-ish values -------------------------------

KEYS = [
    "data", "meta", "predictions", "annotations", "result", "score", "model_version",
    "id", "from_name", "to_name", "type", "value", "original_width", "original_height",
    "image_rotation", "from_id", "to_id", "direction", "labels", "text",
]  # fmt: skip
names = st.sampled_from(["", "a", "r1", "x/y"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([2**63, -(2**63) - 1, 2**64])
    # JSON has no NaN or infinity: orjson refuses them before any check runs
    | st.floats(-2, 200, allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, 2.0, -0.0, 1e300])
    | st.sampled_from(["", "relation", "left", "right", "bi", "up", "choices", "label", "r1"])
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=4,
)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value, sometimes anything at all."""
    # (one_of would pick each branch equally often: repeating `good` does not weigh it)
    return st.integers(0, 5).flatmap(lambda i: anything if i == 5 else good)


def dropping(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that sometimes lack one of their keys (required ones included)."""

    def drop(obj: dict[str, Any], which: int) -> dict[str, Any]:
        if obj and which < len(obj):
            del obj[sorted(obj)[which]]
        return obj

    # counting down: Hypothesis leans towards small numbers, and those drop nothing
    return st.builds(drop, strategy, st.integers(-20, 5).map(lambda i: -i if i < 0 else 99))


# Right kinds only: `maybe` swaps in wrong ones (booleans, None, negatives, strings, 2.5).
ids = names | st.integers(-2, 2) | st.sampled_from([1.0, 2.0, -0.0])
numbers = st.integers(0, 1000) | st.floats(0, 1000, allow_nan=False)
region = dropping(
    st.fixed_dictionaries(
        {
            "from_name": maybe(st.sampled_from(["label", "choice"])),
            "to_name": maybe(st.sampled_from(["image", "text"])),
            "type": maybe(st.sampled_from(["choices", "rectanglelabels"])),
            "value": maybe(st.dictionaries(st.sampled_from(["x", "choices"]), scalars)),
            "id": maybe(ids),
        },
        optional={
            "score": maybe(numbers),
            "original_width": maybe(numbers),
            "original_height": maybe(numbers),
            "image_rotation": maybe(numbers),
            # relation keys on a region that is not a relation mean nothing
            "from_id": anything,
            "direction": anything,
        },
    )
)
relation = dropping(
    st.fixed_dictionaries(
        {"type": st.just("relation"), "from_id": maybe(ids), "to_id": maybe(ids)},
        optional={
            "direction": maybe(st.sampled_from(["left", "right", "bi"])),
            "labels": maybe(st.lists(maybe(names), max_size=2)),
            "from_name": anything,
            "value": anything,
        },
    )
)
prediction = dropping(
    st.fixed_dictionaries(
        {"result": maybe(st.lists(maybe(region | relation), min_size=1, max_size=3))},
        optional={
            "score": maybe(st.floats(-0.5, 1.5, allow_nan=False) | st.sampled_from([0, 1, 2])),
            "model_version": maybe(names),
        },
    )
)
some_predictions = st.lists(maybe(prediction), min_size=1, max_size=2)
tasks = dropping(
    st.fixed_dictionaries(
        {
            "data": maybe(st.dictionaries(names, scalars, max_size=2)),
            "predictions": maybe(some_predictions),
        },
        optional={
            "meta": maybe(st.dictionaries(names, scalars, max_size=2)),
            "annotations": maybe(some_predictions),
        },
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tasks)
def test_same_verdict_as_jsonschema_on_generated_tasks(task: dict[str, Any]) -> None:
    agree(task)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_same_verdict_as_jsonschema_on_mutated_valid_tasks(data: st.DataObject) -> None:
    task = copy.deepcopy(data.draw(st.sampled_from(VALID_TASKS)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(task)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        *parents, last = path
        node: Any = task
        for token in parents:
            node = node[token]
        if data.draw(st.booleans()):
            del node[last]
        else:
            node[last] = data.draw(anything)
    agree(task)
