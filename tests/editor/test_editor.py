"""The editor oracle: what Label Studio's own editor keeps of each prediction.

For every control type of lsimport/check/controls.py, a task holds the valid prediction and
broken variants of it (tests/fidelity/controlcases.py), one prediction each. The editor opens
the task; `window.Htx.annotationStore.predictions[i].serializeAnnotation()` is what survives
it. The policy of docs/severity.md must hold: whatever the editor drops or strips (the region,
its label, a value field) is an error for lsimport, and whatever lsimport passes, or only
warns about, the editor keeps.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from fidelity.controlcases import Case, cases

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker

# Control types whose results this build of the editor does not load at all, whatever they
# hold, so it cannot judge them (each is checked to be so, or the entry is stale).
EDITOR_BLIND = {
    "chatmessage": "the community editor of 1.23.2 loads no result of a <Chat> task",
    "reactcode": "<ReactCode> results do not load",
    "ocrlabels": "<Pdf> is not rendered by the community editor",
    "brush": "the test RLE is not a real mask: serializeAnnotation() throws on it",
    "brushlabels": "as brush",
    "magicwand": "as brush",
    "vector": "an unlabeled <Vector> serializes an empty value (its VectorLabels twin is kept)",
    "videovector": "<VideoVector> results do not load in the community editor",
    "videovectorlabels": "as videovector",
}
# Mutations tried in the editor for each control type (all of them would take too long).
TRIED = ("ok", "label", "label shape", "from_name", "type", "numstr", "missing", "soft-below",
         "fraction", "above", "null", "legacy", "enum")  # fmt: skip
STORE = """() => {
  const store = window.Htx && window.Htx.annotationStore;
  if (!store || !store.predictions) return null;
  return store.predictions.map(p => {
    let serialized = null;
    try { serialized = p.serializeAnnotation(); } catch (e) { serialized = "ERROR " + e; }
    return {pk: p.pk, serialized};
  });
}"""


def _api(server: Any, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Token {server.legacy_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def _groups() -> dict[tuple[str, str], list[Case]]:
    """The tried cases, by control type and its first object: one task each."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases():
        if case.object_tag != case.row.objects[0]:
            continue
        if case.mutation.split(" ")[0] in TRIED:
            groups[(case.row.result_type, case.object_tag)].append(case)
    return groups


def _kept(case: Case, serialized: Any) -> bool:
    """Did the region survive the editor, with its labels and every value field sent?"""
    if not isinstance(serialized, list):
        return False
    sent = case.prediction["result"][0]
    match = [r for r in serialized if r.get("id") == sent["id"] and r.get("type") == sent["type"]]
    if not match:
        return False
    value = match[0].get("value", {})
    key = case.row.label_key
    if key is not None and key in sent["value"] and value.get(key) != sent["value"][key]:
        return False
    return all(k in value for k in sent["value"])


def _load(page: Any, url: str, predictions: int, blind: bool) -> list[dict[str, Any]]:
    """The store's predictions once all have loaded (for a type the editor cannot load:
    whatever it has after 15 s)."""
    page.goto(url)
    deadline = time.monotonic() + (15 if blind else 60)
    got = None
    while time.monotonic() < deadline:
        got = page.evaluate(STORE)
        if got is not None and len(got) == predictions:
            time.sleep(0.3)  # the last regions attach a moment after the store fills
            loaded: list[dict[str, Any]] = page.evaluate(STORE)
            return loaded
        time.sleep(0.25)
    if blind:
        return got or []
    raise AssertionError(f"the editor did not load {predictions} predictions from {url}")


@pytest.fixture(scope="module")
def editor_verdicts(
    editor_server: Any, editor_page: Any, say: Callable[[str], None]
) -> list[tuple[Case, bool, list[str]]]:
    """(case, kept by the editor, lsimport's findings as "severity code") for every case."""
    started = time.monotonic()
    out = []
    for (rtype, _), group in _groups().items():
        first = group[0]
        body = {"title": f"editor {rtype}"[:50], "label_config": first.config}
        project = _api(editor_server, "POST", "/api/projects", body)
        task = {"data": first.task["data"], "predictions": [c.prediction for c in group]}
        path = f"/api/projects/{project['id']}/import?return_task_ids=true"
        answer = _api(editor_server, "POST", path, [task])
        task_id = answer["task_ids"][0]
        stored = _api(editor_server, "GET", f"/api/tasks/{task_id}")["predictions"]
        mutation_of = {p["id"]: p["model_version"] for p in stored}
        url = f"{editor_server.url}/projects/{project['id']}/data?task={task_id}"
        loaded = _load(editor_page, url, len(group), rtype in EDITOR_BLIND)
        serialized = {mutation_of[int(p["pk"])]: p["serialized"] for p in loaded}
        checker = TaskChecker(parse_label_config(first.config))
        for case in group:
            findings = [f"{f.severity} {f.code}" for f in checker.check_fully(case.task)]
            out.append((case, _kept(case, serialized.get(case.mutation)), findings))
    say(f"\neditor oracle: {len(out)} predictions in {time.monotonic() - started:.0f} s")
    return out


def test_every_control_type_is_tried(editor_verdicts: list[tuple[Case, bool, list[str]]]) -> None:
    from lsimport.check.controls import CONTROL_TYPES

    assert {c.row.result_type for c, _, _ in editor_verdicts} == {
        row.result_type for row in CONTROL_TYPES
    }


def test_the_blind_list_is_true(editor_verdicts: list[tuple[Case, bool, list[str]]]) -> None:
    for case, kept, _ in editor_verdicts:
        if case.row.result_type in EDITOR_BLIND and case.mutation == "ok":
            assert not kept, f"{case.key}: the editor keeps it now; drop it from EDITOR_BLIND"


def test_what_the_editor_loses_is_an_error(
    editor_verdicts: list[tuple[Case, bool, list[str]]],
) -> None:
    """And so, what lsimport passes or only warns about, the editor keeps."""
    passed_but_lost = [
        (case.key, findings)
        for case, kept, findings in editor_verdicts
        if case.row.result_type not in EDITOR_BLIND
        and not kept
        and not any(f.startswith("error") for f in findings)
    ]
    assert passed_but_lost == [], "\n".join(map(str, passed_but_lost))
    shown = [
        case.key
        for case, kept, findings in editor_verdicts
        if case.row.result_type not in EDITOR_BLIND and kept and not findings
    ]
    assert len(shown) >= 20  # the valid predictions of the control types it renders
