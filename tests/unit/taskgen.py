"""Realistic tasks for one rich labeling config, and hypothesis mutations of them.

Shared by the soundness tests of the fast path (fastpath.py) and the screen (screen.py).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker

CONFIG = parse_label_config(
    """<View>
  <Text name="text" value="$text"/>
  <Labels name="label" toName="text"><Label value="PER"/><Label value="ORG"/></Labels>
  <Choices name="sentiment" toName="text">
    <Choice value="Positive"/><Choice value="Negative"/>
  </Choices>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="Car"/></RectangleLabels>
  <PolygonLabels name="poly" toName="image"><Label value="Car"/></PolygonLabels>
  <Taxonomy name="tax" toName="text"><Choice value="A"><Choice value="B"/></Choice></Taxonomy>
  <TextArea name="notes" toName="text"/>
  <Relations><Relation value="knows"/></Relations>
</View>"""
)

VALID: dict[str, Any] = {
    "data": {"text": "Alice works at Acme", "image": "http://x/1.png"},
    "meta": {"source": "m"},
    "predictions": [
        {
            "model_version": "v1",
            "score": 0.5,
            "result": [
                {
                    "id": "a",
                    "from_name": "label",
                    "to_name": "text",
                    "type": "labels",
                    "value": {"start": 0, "end": 5, "labels": ["PER"]},
                },
                {
                    "id": "b",
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["Positive"]},
                },
                {
                    "id": "c",
                    "from_name": "box",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "original_width": 100,
                    "original_height": 50,
                    "value": {
                        "x": 1,
                        "y": 2,
                        "width": 30,
                        "height": 40,
                        "rectanglelabels": ["Car"],
                    },
                },
                {
                    "id": "d",
                    "from_name": "poly",
                    "to_name": "image",
                    "type": "polygonlabels",
                    "original_width": 100,
                    "original_height": 50,
                    "value": {"points": [[1, 2], [3, 4], [5, 1]], "polygonlabels": ["Car"]},
                },
                {
                    "id": "e",
                    "from_name": "tax",
                    "to_name": "text",
                    "type": "taxonomy",
                    "value": {"taxonomy": [["A", "B"]]},
                },
                {
                    "id": "f",
                    "from_name": "notes",
                    "to_name": "text",
                    "type": "textarea",
                    "value": {"text": ["free text"]},
                },
            ],
        }
    ],
}

CHECKER = TaskChecker(CONFIG)
PLAIN = TaskChecker(None)

ODD_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1.5,
        101,
        1e9,
        "",
        "x",
        "PER",
        "Car",
        [],
        [1],
        ["PER"],
        ["Nope"],
        {},
        {"a": 1},
        [[1, 2]],
    ]
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(VALID) if p]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    task = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = task
        try:
            for p in path[:-1]:
                parent = parent[p]
            action = draw(st.sampled_from(["replace", "delete", "duplicate"]))
            if action == "delete":
                del parent[path[-1]]
            elif action == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[path[-1]]))
            else:
                parent[path[-1]] = copy.deepcopy(draw(ODD_VALUES))  # (shared objects)
        except (KeyError, IndexError, TypeError):
            continue
    return task
