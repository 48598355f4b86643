"""Config-aware checks: each rule's finding code, severity and JSON pointer; XML safety."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsimport.check.labelconfig import load_label_config, parse_label_config
from lsimport.check.pipeline import check_records
from lsimport.check.rules import TaskChecker
from lsimport.errors import ConfigError
from lsimport.model import Record

CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <HyperText name="page" value="$doc.html"/>
  <Image name="image" value="$image"/>
  <Labels name="ner" toName="text">
    <Label value="Person" alias="PER"/>
    <Label value="ORG"/>
  </Labels>
  <Choices name="sentiment" toName="text,image">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
  </Choices>
  <Choices name="options" toName="text" value="$options"/>
  <RectangleLabels name="box" toName="image">
    <Label value="Car"/>
  </RectangleLabels>
  <PolygonLabels name="poly" toName="image">
    <Label value="Car"/>
  </PolygonLabels>
  <KeyPointLabels name="kp" toName="image">
    <Label value="Nose"/>
  </KeyPointLabels>
  <Taxonomy name="tax" toName="text">
    <Choice value="Animal">
      <Choice value="Cat"/>
    </Choice>
    <Choice value="Plant"/>
  </Taxonomy>
  <TextArea name="note" toName="text" perRegion="true"/>
  <Relations>
    <Relation value="works_for"/>
  </Relations>
</View>
"""
CHECKER = TaskChecker(parse_label_config(CONFIG))
DATA = {
    "text": "Ada works for ACME",
    "doc": {"html": "<p>hi</p>"},
    "image": "https://example.com/a.png",
    "options": [{"value": "a"}],
}
SPAN = {
    "id": "s1",
    "from_name": "ner",
    "to_name": "text",
    "type": "labels",
    "value": {"start": 0, "end": 3, "text": "Ada", "labels": ["PER"]},
}
SPAN2 = {
    "id": "s2",
    "from_name": "ner",
    "to_name": "text",
    "type": "labels",
    "value": {"start": 14, "end": 18, "labels": ["ORG"]},
}
BOX = {
    "id": "b1",
    "from_name": "box",
    "to_name": "image",
    "type": "rectanglelabels",
    "original_width": 640,
    "original_height": 480,
    "value": {
        "x": 10,
        "y": 20,
        "width": 30,
        "height": 40,
        "rotation": 0,
        "rectanglelabels": ["Car"],
    },
}
POLY = {
    "id": "p1",
    "from_name": "poly",
    "to_name": "image",
    "type": "polygonlabels",
    "original_width": 640,
    "original_height": 480,
    "value": {"points": [[10, 10], [50, 10], [30, 40]], "polygonlabels": ["Car"]},
}
KP = {
    "id": "k1",
    "from_name": "kp",
    "to_name": "image",
    "type": "keypointlabels",
    "original_width": 640,
    "original_height": 480,
    "value": {"x": 50, "y": 50, "width": 0.5, "keypointlabels": ["Nose"]},
}
CHOICE = {
    "from_name": "sentiment",
    "to_name": "text",
    "type": "choices",
    "value": {"choices": ["Positive"]},
}
TAX = {
    "from_name": "tax",
    "to_name": "text",
    "type": "taxonomy",
    "value": {"taxonomy": [["Animal", "Cat"], ["Plant"]]},
}
RELATION = {
    "type": "relation",
    "from_id": "s1",
    "to_id": "s2",
    "direction": "right",
    "labels": ["works_for"],
}
R0 = "/predictions/0/result/0"


def task(*regions: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "data": copy.deepcopy(DATA if data is None else data),
        "predictions": [
            {"model_version": "m", "score": 0.5, "result": copy.deepcopy(list(regions))}
        ],
    }


def region(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with top-level keys replaced; `value__k=v` replaces value keys; `...` deletes."""
    out = copy.deepcopy(base)
    for key, new in changes.items():
        node, k = (out["value"], key[7:]) if key.startswith("value__") else (out, key)
        if new is ...:
            del node[k]
        else:
            node[k] = new
    return out


def found(t: dict[str, Any], checker: TaskChecker = CHECKER) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.pointer) for f in checker.check(t)]


def test_a_task_that_uses_every_control_correctly_has_no_findings() -> None:
    note = {
        "id": "s1",
        "from_name": "note",
        "to_name": "text",
        "type": "textarea",
        "value": {"text": ["the founder"]},
    }
    dynamic = {
        "from_name": "options",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["a"]},
    }
    t = task(SPAN, SPAN2, note, RELATION, BOX, POLY, KP, CHOICE, TAX, dynamic)
    t["annotations"] = [{"result": copy.deepcopy(t["predictions"][0]["result"])}]
    assert found(t) == []


def test_without_a_config_only_the_structure_is_checked() -> None:
    t = task(region(SPAN, from_name="nope"), data={})
    assert found(t, TaskChecker()) == []
    assert found({"data": []}, TaskChecker()) == [("error", "schema.data", "/data")]


# --- data: the config's $variables -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({**DATA, "text": None}, [("config.data-type", "/data/text")]),
        ({k: v for k, v in DATA.items() if k != "text"}, [("config.data-missing", "/data/text")]),
        ({k: v for k, v in DATA.items() if k != "image"}, [("config.data-missing", "/data/image")]),
        # Text takes str, int, float, list (a boolean is stored: isinstance(True, int))
        ({**DATA, "text": {"a": 1}}, [("config.data-type", "/data/text")]),
        ({**DATA, "text": 42}, []),
        ({**DATA, "text": ["a", "b"]}, []),
        # Image takes str or list
        ({**DATA, "image": 7}, [("config.data-type", "/data/image")]),
        ({**DATA, "image": ["a.png", "b.png"]}, []),
        # dotted keys walk into objects: $doc.html
        ({**DATA, "doc": {"html": ["<p>"]}}, [("config.data-type", "/data/doc/html")]),
        ({**DATA, "doc": {}}, [("config.data-missing", "/data/doc/html")]),
        ({**DATA, "doc": "flat"}, [("config.data-missing", "/data/doc/html")]),
        (
            {k: v for k, v in DATA.items() if k != "doc"},
            [("config.data-missing", "/data/doc/html")],
        ),
        # a dynamic-choices variable is data too
        ({**DATA, "options": {"a": 1}}, [("config.data-type", "/data/options")]),
        # Label Studio maps $undefined$ onto the config's first variable
        ({**{k: v for k, v in DATA.items() if k != "text"}, "$undefined$": "x"}, []),
    ],
)
def test_data_variables(data: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(c, p) for s, c, p in found({"data": data})] == expected
    assert all(s == "error" for s, _, _ in found({"data": data}))


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        # Label Studio stores these (tasks/validation.py, the SDK's float(score)): warnings
        ({"data": {**DATA, "text": True}}, [("warning", "config.data-type", "/data/text")]),
        ({"data": DATA, "meta": ["a"]}, [("warning", "schema.meta", "/meta")]),
        ({"data": DATA, "predictions": [{"result": [], "score": None}]}, []),
        (
            {"data": DATA, "predictions": [{"result": [], "score": "0.5"}]},
            [("warning", "schema.score", "/predictions/0/score")],
        ),
        (
            {"data": DATA, "predictions": [{"result": [], "model_version": 3}]},
            [("warning", "schema.model_version", "/predictions/0/model_version")],
        ),
        # ... but a score that is no number is refused by the SDK's check: dropped
        (
            {"data": DATA, "predictions": [{"result": [], "score": "high"}]},
            [("error", "schema.score", "/predictions/0/score")],
        ),
        (
            {"data": DATA, "predictions": [{"result": [], "score": "1.5"}]},
            [("error", "schema.score", "/predictions/0/score")],
        ),
    ],
)
def test_what_label_studio_stores_is_at_most_a_warning(
    task: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    assert found(task) == expected


# --- regions against controls -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reg", "expected"),
    [
        (region(SPAN, from_name="entities"), [("config.from-name", f"{R0}/from_name")]),
        (region(SPAN, to_name="image"), [("config.to-name", f"{R0}/to_name")]),
        # a control with several toName objects takes each of them
        (region(CHOICE, to_name="image"), []),
        (region(CHOICE, to_name="page"), [("config.to-name", f"{R0}/to_name")]),
        # type must be the control tag lowercased; the value is not looked at then
        (region(SPAN, type="Labels", value__labels=["nope"]), [("config.type", f"{R0}/type")]),
        (region(BOX, type="rectangle"), [("config.type", f"{R0}/type")]),
        (region(SPAN, value__start=...), [("config.value", f"{R0}/value/start")]),
        (region(SPAN, value__labels=...), [("config.value", f"{R0}/value/labels")]),
        (region(BOX, value__width=..., value__height=...), [("config.value", f"{R0}/value/width")]),
        (region(POLY, value__points=...), [("config.value", f"{R0}/value/points")]),
        (region(CHOICE, value={"choice": ["Positive"]}), [("config.value", f"{R0}/value/choices")]),
        (region(TAX, value={}), [("config.value", f"{R0}/value/taxonomy")]),
        (region(SPAN, value__start=9, value__end=3), [("config.span", f"{R0}/value/start")]),
    ],
)
def test_region_against_its_control(reg: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(task(reg)) == [("error", c, p) for c, p in expected]


@pytest.mark.parametrize(
    ("reg", "expected"),
    [
        (region(CHOICE, value__choices=["Happy"]), [("config.label", f"{R0}/value/choices")]),
        (
            region(BOX, value__rectanglelabels=["Bus"]),
            [("config.label", f"{R0}/value/rectanglelabels")],
        ),
        (region(CHOICE, value__choices="Positive"), [("config.labels", f"{R0}/value/choices")]),
        (region(CHOICE, value__choices=[1]), [("config.labels", f"{R0}/value/choices")]),
        # an alias replaces the value: the region carries the alias, as the SDK has it
        (region(SPAN, value__labels=["PER"]), []),
        (region(SPAN, value__labels=["Person"]), [("config.label", f"{R0}/value/labels")]),
        # labels from the task's data (value="$options") cannot be known: not checked
        (
            {
                "from_name": "options",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": ["anything at all"]},
            },
            [],
        ),
        # taxonomy: a list of paths; every node on a path must be declared
        (region(TAX, value__taxonomy=[["Animal"]]), []),
        (
            region(TAX, value__taxonomy=[["Animal", "Dog"]]),
            [("config.label", f"{R0}/value/taxonomy")],
        ),
        (region(TAX, value__taxonomy=["Animal"]), [("config.labels", f"{R0}/value/taxonomy")]),
    ],
)
def test_labels(reg: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(task(reg)) == [("error", c, p) for c, p in expected]


def test_unknown_label_message_names_the_declared_ones() -> None:
    (f,) = CHECKER.check(task(region(CHOICE, value__choices=["Happy"])))
    assert "'Happy'" in f.message
    assert "'Negative', 'Positive'" in f.message


# --- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reg", "expected"),
    [
        (region(BOX, value__x=150), [("error", "config.percent", f"{R0}/value/x")]),
        # below 0: the SDK has no lower bound and the editor shows the box (docs/severity.md)
        (region(BOX, value__y=-1), [("warning", "config.outside-image", f"{R0}/value/y")]),
        (region(BOX, value__width=100.5), [("error", "config.percent", f"{R0}/value/width")]),
        (region(KP, value__y=-3), [("warning", "config.outside-image", f"{R0}/value/y")]),
        (region(KP, value__y=120), [("error", "config.percent", f"{R0}/value/y")]),
        (
            region(POLY, value__points=[[10, 10], [150, 10], [30, 40]]),
            [("error", "config.percent", f"{R0}/value/points/1")],
        ),
        (
            region(POLY, value__points=[[10, 10], [20]]),
            [("error", "config.points", f"{R0}/value/points/1")],
        ),
        # each number in range, the box running past the edge: shown, cut off
        (region(BOX, value__x=90), [("warning", "config.outside-image", f"{R0}/value")]),
        (region(BOX, value__y=70, value__height=30.0005), []),  # float noise is tolerated
        (
            region(BOX, original_width=...),
            [("warning", "config.original-size", f"{R0}/original_width")],
        ),
        (
            region(KP, original_width=...),
            [("warning", "config.original-size", f"{R0}/original_width")],
        ),
        # x + width = 100 exactly is inside
        (region(BOX, value__x=70, value__width=30), []),
    ],
)
def test_geometry(reg: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    assert found(task(reg)) == expected


def test_text_spans_need_no_image_size() -> None:
    assert found(task(SPAN)) == []


# --- ids and relations ------------------------------------------------------------------------


def test_duplicate_region_ids_in_one_result() -> None:
    assert found(task(BOX, region(BOX, value__x=50))) == [
        ("error", "config.duplicate-id", "/predictions/0/result/1/id")
    ]


def test_same_id_under_different_controls_is_one_region_with_attributes() -> None:
    note = {"id": "s1", "from_name": "note", "to_name": "text", "type": "textarea",
            "value": {"text": ["x"]}}  # fmt: skip
    choice = region(CHOICE, id="s1")
    assert found(task(SPAN, note, choice)) == []
    # ... but twice under the same control is a duplicate, however many others share it
    assert found(task(SPAN, note, choice, note)) == [
        ("error", "config.duplicate-id", "/predictions/0/result/3/id")
    ]


def test_ids_are_per_result() -> None:
    t = task(BOX)
    t["predictions"].append(copy.deepcopy(t["predictions"][0]))
    t["annotations"] = copy.deepcopy(t["predictions"])
    assert found(t) == []


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (RELATION, []),
        ({**RELATION, "labels": []}, []),
        ({k: v for k, v in RELATION.items() if k != "labels"}, []),
        ({**RELATION, "to_id": "s9"}, [("config.relation", "/predictions/0/result/2/to_id")]),
        ({**RELATION, "from_id": 1}, [("config.relation", "/predictions/0/result/2/from_id")]),
        (
            {**RELATION, "labels": ["works_for", "owns"]},
            [("config.relation-label", "/predictions/0/result/2/labels")],
        ),
        # broken ends are the schema's findings, and must not crash the relation check
        ({**RELATION, "to_id": ["s2"]}, [("schema.relation", "/predictions/0/result/2/to_id")]),
        ({**RELATION, "labels": [["x"]]}, [("schema.relation", "/predictions/0/result/2/labels")]),
    ],
)
def test_relations(rel: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert found(task(SPAN, SPAN2, rel)) == [("error", c, p) for c, p in expected]


def test_relation_ends_must_be_in_the_same_result() -> None:
    t = task(SPAN, SPAN2)
    t["predictions"].append({"result": [copy.deepcopy(RELATION)]})
    assert found(t) == [
        ("error", "config.relation", "/predictions/1/result/0/from_id"),
        ("error", "config.relation", "/predictions/1/result/0/to_id"),
    ]


def test_annotations_are_checked_like_predictions() -> None:
    t = {"data": dict(DATA), "annotations": [{"result": [region(CHOICE, value__choices=["?"])]}]}
    assert found(t) == [("error", "config.label", "/annotations/0/result/0/value/choices")]


def test_hypertext_and_timeseries_value_keys() -> None:
    config = parse_label_config(
        """<View>
          <HyperText name="html" value="$html"/>
          <HyperTextLabels name="ner" toName="html"><Label value="Title"/></HyperTextLabels>
          <TimeSeries name="ts" value="$csv" valueType="url"><Channel column="v"/></TimeSeries>
          <TimeSeriesLabels name="tsl" toName="ts"><Label value="Spike"/></TimeSeriesLabels>
        </View>"""
    )
    checker = TaskChecker(config)
    span = {"start": "/p[1]/text()[1]", "end": "/p[1]/text()[1]", "startOffset": 0, "endOffset": 3}
    html = {"from_name": "ner", "to_name": "html", "type": "hypertextlabels"}
    ts = {"from_name": "tsl", "to_name": "ts", "type": "timeserieslabels"}
    data = {"html": "<p>abc</p>", "csv": "https://example.com/s.csv"}
    ok_ts = {"start": 1, "end": 5, "instant": False, "timeserieslabels": ["Spike"]}

    def check(*regions: dict[str, Any]) -> list[tuple[str, str, str]]:
        return found(task(*regions, data=data), checker)

    assert check({**html, "value": {**span, "hypertextlabels": ["Title"]}}) == []
    # `htmllabels`, the old key: the editor loses these labels and the SDK refuses the value
    assert check({**html, "value": {**span, "htmllabels": ["Title"]}}) == [
        ("error", "config.value", f"{R0}/value/htmllabels")
    ]
    assert check({**ts, "value": ok_ts}) == []
    # the SDK's TimeSeriesValue requires `instant`
    assert check({**ts, "value": {k: v for k, v in ok_ts.items() if k != "instant"}}) == [
        ("error", "config.value", f"{R0}/value/instant")
    ]


# --- --strict ---------------------------------------------------------------------------------


def _records(*tasks: dict[str, Any]) -> list[Record]:
    return [Record("t.json", i, i + 1, t) for i, t in enumerate(tasks, 1)]


def test_strict_turns_warnings_into_errors() -> None:
    warned = task(region(BOX, value__x=90))
    fine = task(BOX)
    unparsed = Record("t.json", 3, 9, None, b"{", [])

    lenient = list(check_records([*_records(warned, fine), unparsed], CHECKER))
    assert [(f.severity, f.code) for f in lenient[0].findings] == [
        ("warning", "config.outside-image")
    ]
    assert [r.has_errors for r in lenient] == [False, False, False]

    strict = list(check_records([*_records(warned, fine), unparsed], CHECKER, strict=True))
    assert [(f.severity, f.code, f.pointer) for f in strict[0].findings] == [
        ("error", "config.outside-image", f"{R0}/value")
    ]
    assert [r.has_errors for r in strict] == [True, False, False]


def test_check_records_keeps_read_findings_and_skips_unparsed_records() -> None:
    from lsimport.model import error

    broken = Record("t.json", 1, 1, None, b"{", [error("read.json", "invalid JSON")])
    (out,) = check_records([broken], CHECKER, strict=True)
    assert [(f.severity, f.code) for f in out.findings] == [("error", "read.json")]


# --- robustness: any task-shaped value gives findings, never an exception ----------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=False)
    | st.sampled_from(["", "s1", "s2", "PER", "Car", "text", "image", "ner", "box", "relation"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["id", "from_name", "to_name", "type", "value", "labels", "x", "points",
                         "choices", "taxonomy", "from_id", "to_id", "start", "end", "html"]),
        inner, max_size=4,
    ),
    max_leaves=8,
)  # fmt: skip
good_regions = st.sampled_from([SPAN, SPAN2, BOX, POLY, KP, CHOICE, TAX, RELATION])


@st.composite
def broken_regions(draw: st.DrawFn) -> dict[str, Any]:
    """A correct region with one to three of its keys (or its value's keys) set to anything."""
    reg = copy.deepcopy(draw(good_regions))
    for _ in range(draw(st.integers(1, 3))):
        value = reg.get("value")
        target = value if isinstance(value, dict) and value and draw(st.booleans()) else reg
        target[draw(st.sampled_from(sorted(target)))] = draw(values)
    return reg


@settings(max_examples=200, deadline=None)
@given(
    st.lists(broken_regions() | good_regions, min_size=1, max_size=5),
    st.dictionaries(st.sampled_from(["text", "doc", "image", "options"]), values),
)
def test_any_task_gives_findings_not_exceptions(regions: list[Any], data: dict[str, Any]) -> None:
    t = task(*regions, data=data)
    for f in CHECKER.check_fully(t):
        assert f.severity in ("error", "warning")
        assert f.pointer.startswith("/")
    CHECKER.check(t)


# --- XML safety -------------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<View>
  <Text name="text" value="$text"/>
  <Choices name="c" toName="text"><Choice value="&lol9;"/></Choices>
</View>
"""


def test_billion_laughs_is_refused_not_expanded() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match="refused"):
        parse_label_config(BILLION_LAUGHS)
    assert time.monotonic() - started < 1


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    config = f"""<?xml version="1.0"?>
<!DOCTYPE View [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>
<View>
  <Text name="text" value="$text"/>
  <Choices name="c" toName="text"><Choice value="&xxe;"/></Choices>
</View>"""
    path = tmp_path / "config.xml"
    path.write_text(config)
    with pytest.raises(ConfigError, match="refused") as exc:
        load_label_config(path)
    assert "TOP-SECRET-VALUE" not in str(exc.value)


def test_external_dtd_is_refused() -> None:
    with pytest.raises(ConfigError, match="refused"):
        parse_label_config(
            '<?xml version="1.0"?><!DOCTYPE View SYSTEM "http://127.0.0.1:9/x.dtd">'
            '<View><Text name="text" value="$text"/></View>'
        )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("this is not xml", "not valid XML"),
        ('{"label_config": "<View/>"}', "not valid XML"),
        ('<View><Text name="text" value="$text"/>', "not valid XML"),
        ("", "empty"),
        ("<View><Header value='just a header'/></View>", "no object or control tags"),
    ],
)
def test_unparseable_configs(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_label_config(text)


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such labeling config file"):
        load_label_config(tmp_path / "missing.xml")
    latin1 = tmp_path / "latin1.xml"
    latin1.write_bytes(
        '<View><Text name="t" value="$t"/><Header value="caf\xe9"/></View>'.encode("latin-1")
    )
    with pytest.raises(ConfigError, match="cannot read"):
        load_label_config(latin1)


# --- issue 13: what Label Studio accepts, and what it drops or loses ---------------------------

ISSUE_CONFIG = parse_label_config(
    """<View>
  <Chat name="chat" value="$chat"/>
  <Choices name="verdict" toName="chat"><Choice value="Good"/></Choices>
  <Video name="video" value="$video"/>
  <Labels name="videoLabels" toName="video"><Label value="Man"/></Labels>
  <VideoRectangle name="track" toName="video"/>
  <Image name="img" value="$img"/>
  <Rectangle name="bbox" toName="img"/>
  <Labels name="kind" toName="img"><Label value="Text"/></Labels>
  <Ellipse name="ell" toName="img"/>
  <BrushLabels name="brush" toName="img"><Label value="Road"/></BrushLabels>
  <VectorLabels name="vec" toName="img"><Label value="Road"/></VectorLabels>
  <Text name="txt" value="$txt"/>
  <Taxonomy name="tax" toName="txt" apiUrl="https://example.com/taxonomy"/>
  <Labels name="ner" toName="txt"><Label value="PER"/></Labels>
  <Filter name="f" toName="ner"/>
  <Rating name="stars" toName="txt" maxRating="3"/>
  <TextArea name="note" toName="txt"/>
</View>"""
)
ISSUE_DATA = {
    "chat": [{"role": "user", "content": "hi"}],
    "video": "v.mp4",
    "img": "i.png",
    "txt": "Alice",
}
IMG = {"original_width": 10, "original_height": 10}
SEQ = [{"frame": 1, "x": 1, "y": 1, "width": 5, "height": 5, "time": 0.04}]


def _issue(*regions: dict[str, Any]) -> list[tuple[str, str, str]]:
    task = {"data": ISSUE_DATA, "predictions": [{"result": list(regions)}]}
    return found(task, TaskChecker(ISSUE_CONFIG))


def _r(from_name: str, to_name: str, rtype: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r",
        "from_name": from_name,
        "to_name": to_name,
        "type": rtype,
        "value": value,
        **extra,
    }


@pytest.mark.parametrize(
    "regions",
    [
        [_r("chat", "chat", "chatmessage", {"chatmessage": {"role": "assistant", "content": "x"}})],
        [_r("track", "video", "videorectangle",
            {"framesCount": 9, "duration": 1.0, "sequence": SEQ, "labels": ["Man"]})],
        [_r("track", "video", "videorectangle",
            {"framesCount": 9, "duration": 1.0, "sequence": SEQ})],
        # the split format: geometry and labels share one id
        [_r("bbox", "img", "rectangle", {"x": 1, "y": 1, "width": 5, "height": 5}, **IMG),
         _r("kind", "img", "labels", {"x": 1, "y": 1, "width": 5, "height": 5, "labels": ["Text"]},
            **IMG)],
        [_r("tax", "txt", "taxonomy", {"taxonomy": [["anything", "from the API"]]})],
        [_r("bbox", "img", "rectangle", {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": None},
            **IMG)],
    ],
)  # fmt: skip
def test_what_label_studio_accepts_passes(regions: list[dict[str, Any]]) -> None:
    assert _issue(*regions) == []


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (_r("bbox", "img", "rectangle", {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": 400},
            **IMG), ("error", "config.range", "value/rotation")),
        (_r("ell", "img", "ellipse", {"x": 50, "y": 50, "radiusX": 60, "radiusY": 5}, **IMG),
         ("error", "config.percent", "value/radiusX")),
        (_r("bbox", "img", "rectangle", {"x": None, "y": 1, "width": 5, "height": 5}, **IMG),
         ("error", "config.value-type", "value/x")),
        (_r("bbox", "img", "rectangle", {"x": "1", "y": 1, "width": 5, "height": 5}, **IMG),
         ("error", "config.value-type", "value/x")),
        (_r("brush", "img", "brushlabels", {"format": "rle", "rle": [], "brushlabels": ["Road"]},
            **IMG), ("error", "config.value-type", "value/rle")),
        (_r("brush", "img", "brushlabels", {"format": "rle", "rle": "xyz", "brushlabels": ["Road"]},
            **IMG), ("error", "config.value-type", "value/rle")),
        (_r("brush", "img", "brushlabels",
            {"format": "rle", "rle": [1, 300], "brushlabels": ["Road"]}, **IMG),
         ("error", "config.range", "value/rle/1")),
        (_r("vec", "img", "vectorlabels",
            {"vertices": [{"x": 1, "y": 1}], "vectorlabels": ["Car"]}, **IMG),
         ("error", "config.label", "value/vectorlabels")),
        (_r("note", "txt", "textarea", {"text": "not a list"}),
         ("error", "config.value-type", "value/text")),
        (_r("stars", "txt", "rating", {"rating": 4}), ("error", "config.range", "value/rating")),
        (_r("ner", "txt", "labels", {"start": -1, "end": 3, "labels": ["PER"]}),
         ("warning", "config.suspicious", "value/start")),
        (_r("ner", "txt", "labels", {"start": 0.5, "end": 3, "labels": ["PER"]}),
         ("error", "config.value-type", "value/start")),
        (_r("ner", "txt", "labels", {"start": None, "end": 3, "labels": ["PER"]}),
         ("error", "config.value-type", "value/start")),
        (_r("track", "video", "videorectangle", {"duration": 1.0, "sequence": SEQ}),
         ("error", "config.value", "value/framesCount")),
        (_r("track", "video", "videorectangle",
            {"framesCount": 9, "duration": 1.0, "sequence": [{**SEQ[0], "x": 150}]}),
         ("error", "config.percent", "value/sequence/0/x")),
        (_r("track", "video", "videorectangle",
            {"framesCount": 9, "duration": 1.0, "sequence": SEQ, "labels": None}),
         ("warning", "config.suspicious", "value/labels")),
        (_r("f", "txt", "filter", {}), ("error", "config.from-name", "from_name")),
    ],
)  # fmt: skip
def test_what_label_studio_drops_or_loses_is_found(
    region: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    severity, code, where = expected
    assert _issue(region) == [(severity, code, f"{R0}/{where}")]
