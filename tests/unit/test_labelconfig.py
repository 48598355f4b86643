"""lsimport/check/labelconfig.py: what a labeling config says, and which configs are refused.

The hand-written configs pin each rule; the templates Label Studio 1.23.2 ships
(label_studio/annotation_templates/**/config.yml, key `config`) check the parser on real
configs, against Label Studio itself: its `extract_data_types` (the `$variables` the server
requires of a task) and its SDK's `LabelInterface` (controls, toName, labels), run in Label
Studio's own venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # (no stubs in the dev venv)

from lsimport.check.labelconfig import (
    DATA_TYPES,
    Control,
    DataVariable,
    load_label_config,
    parse_label_config,
)
from lsimport.errors import ConfigError, ExitStatus

REPO = Path(__file__).resolve().parents[2]


# --- what the parser reads ------------------------------------------------------------------


def test_objects_controls_and_to_names() -> None:
    config = parse_label_config(
        """<View>
  <Header value="Look at both"/>
  <Image name="left" value="$left"/>
  <Image name="right" value="$right"/>
  <Text name="caption" value="$caption"/>
  <RectangleLabels name="box" toName="left, right">
    <Label value="Car"/><Label value="Bus"/>
  </RectangleLabels>
  <TextArea name="notes" toName="caption"/>
  <Choices name="orphan"><Choice value="x"/></Choices>
</View>"""
    )
    assert config.objects == {"left": "Image", "right": "Image", "caption": "Text"}
    assert config.controls == {
        "box": Control("box", "RectangleLabels", ("left", "right"), frozenset({"Car", "Bus"})),
        # no Label children and not a labeled control: no label set to check against
        "notes": Control("notes", "TextArea", ("caption",), None),
    }  # a control without toName labels nothing: it is neither
    assert config.controls["box"].type == "rectanglelabels"


def test_labels_alias_wins_nested_are_included_and_dynamic_are_unknown() -> None:
    config = parse_label_config(
        """<View>
  <Text name="text" value="$text"/>
  <Labels name="ner" toName="text">
    <Label value="Person" alias="PER"/><Label value="Organisation"/>
  </Labels>
  <Choices name="sentiment" toName="text">
    <View><Header value="Pick one"/><Choice value="Good"/></View>
    <Choice value="Bad" alias="bad"/>
  </Choices>
  <Taxonomy name="tax" toName="text">
    <Choice value="Animal"><Choice value="Cat"/><Choice value="Dog" alias="dog"/></Choice>
  </Taxonomy>
  <Choices name="picked" toName="text" value="$options"/>
  <Labels name="empty" toName="text"/>
  <Relations><Relation value="works for"/><Relation value="x" alias="knows"/></Relations>
</View>"""
    )
    labels = {name: ctrl.labels for name, ctrl in config.controls.items()}
    assert labels == {
        "ner": frozenset({"PER", "Organisation"}),  # the alias is what a prediction carries
        "sentiment": frozenset({"Good", "bad"}),  # a Choice inside a nested View counts
        "tax": frozenset({"Animal", "Cat", "dog"}),
        "picked": None,  # value="$options": the labels come with each task
        "empty": frozenset(),  # a labeled control that declares none: nothing is allowed
    }
    assert config.relation_labels == {"works for", "knows"}
    # A dynamic control reads its options from the task, like an object does.
    assert [(v.key, v.tag) for v in config.variables] == [("text", "Text"), ("options", "Choices")]


def test_value_variables() -> None:
    config = parse_label_config(
        """<View>
  <Video name="video" value="$media"/>
  <Audio name="audio" value="$media"/>
  <Text name="meta" value="$meta.text"/>
  <Header name="title" value="Task $title of $total"/>
  <HyperText name="fixed" value="no variable here"/>
  <Repeater on="$pages" indexFlag="{{idx}}">
    <Image name="page_{{idx}}" value="$pages[{{idx}}].url"/>
  </Repeater>
  <Image name="gallery" valueList="$images"/>
  <RectangleLabels name="box" toName="gallery"><Label value="Car"/></RectangleLabels>
</View>"""
    )
    assert config.variables == (
        DataVariable("media", "Video", False),  # Video wins over a later Audio, as in LS
        DataVariable("meta.text", "Text", False),  # dotted keys are kept whole, as in LS
        DataVariable("title", "Header", False),  # first variable of a template string only
        DataVariable("pages", "Image", True),
    )  # and valueList is not a task key the server requires (extract_data_types reads value)
    accepted = {v.key: v.accepted for v in config.variables}
    assert accepted["pages"] == (list,)
    assert accepted["meta.text"] == DATA_TYPES["Text"]
    assert accepted["media"] == (str,)  # a tag with no row in DATA_TYPES: a string (a URL)
    assert config.objects["gallery"] == "Image"


def test_comments_processing_instructions_and_the_xml_are_kept_apart() -> None:
    xml = """<?xml version="1.0" encoding="utf-8"?>
<!-- a config written by hand -->
<View>
  <?editor hint?>
  <Text name="text" value="$text"/><!-- the text -->
  <Choices name="c" toName="text"><Choice value="a"/></Choices>
</View>"""
    config = parse_label_config(xml)
    assert config.xml == xml  # sent to Label Studio as written
    assert set(config.objects) == {"text"} and set(config.controls) == {"c"}


# --- what the parser refuses ----------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE View [\n  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + ']>\n<View><Text name="t" value="$t"/>'
    '<Choices name="c" toName="t"><Choice value="&lol9;"/></Choices></View>'
)


@pytest.mark.parametrize(
    "xml",
    [
        BILLION_LAUGHS,
        '<!DOCTYPE View [<!ENTITY e "x">]><View><Text name="t" value="$t&e;"/></View>',
        '<!DOCTYPE View><View><Text name="t" value="$t"/></View>',  # a DTD, no entity
        '<!DOCTYPE View SYSTEM "http://127.0.0.1:9/x.dtd"><View><Text name="t" value="$t"/></View>',
        '<!DOCTYPE View [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><View/>',
    ],
    ids=["billion-laughs", "internal-entity", "bare-doctype", "external-dtd", "parameter-entity"],
)
def test_dtds_and_entities_are_refused_before_anything_is_expanded(xml: str) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_label_config(xml, source="bomb.xml")
    assert time.monotonic() - started < 1
    message = str(caught.value)
    assert message.startswith("bomb.xml: refused: the config declares a DTD or entities")
    assert "labeling configs never need them" in message
    assert caught.value.exit_status == ExitStatus.USAGE
    assert "lol" not in message and "root:" not in message


def test_an_external_entity_file_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    path = tmp_path / "config.xml"
    path.write_text(
        f'<!DOCTYPE View [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
        '<View><Text name="t" value="$t"/><Header value="&xxe;"/></View>'
    )
    with pytest.raises(ConfigError, match="refused") as caught:
        load_label_config(path)
    assert str(caught.value).startswith(f"{path}: refused")
    assert "TOP-SECRET-VALUE" not in str(caught.value)


@pytest.mark.parametrize(
    ("xml", "where"),
    [
        ('<View>\n  <Text name="t" value="$t">\n</View>', "cfg.xml:3:2"),  # unclosed Text
        ("this is not xml", "cfg.xml:1:0"),
        ('{"label_config": "<View/>"}', "cfg.xml:1:0"),  # a project export, not its config
        ('<View><Text name="t" value="$t"/></View>\n<View/>', "cfg.xml:2:0"),  # two roots
        ('<View><Text name="t" value="$t" value="$u"/></View>', "cfg.xml:1:"),
    ],
    ids=["unclosed-tag", "plain-text", "json", "two-roots", "duplicate-attribute"],
)
def test_malformed_xml_says_where_and_what_a_config_looks_like(xml: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_label_config(xml, source="cfg.xml")
    assert caught.value.message.startswith(f"{where}")
    assert "not valid XML: " in caught.value.message
    assert caught.value.hint is not None and "<View><Text" in caught.value.hint
    assert caught.value.__cause__ is not None  # raised from the parser's error


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("", "cfg.xml: labeling config is empty"),
        (" \n\t\n", "cfg.xml: labeling config is empty"),
        (
            "<View><Header value='only a header'/><Style>.x{}</Style></View>",
            "cfg.xml: the config has no object or control tags; is it a labeling config?",
        ),
        (
            "<html><body><p>hello</p></body></html>",
            "cfg.xml: the config has no object or control tags; is it a labeling config?",
        ),
    ],
)
def test_configs_with_nothing_to_label(xml: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_label_config(xml, source="cfg.xml")
    assert str(caught.value) == expected


def test_the_default_source_name() -> None:
    with pytest.raises(ConfigError, match=r"^labeling config: labeling config is empty$"):
        parse_label_config("")


# --- reading the file -----------------------------------------------------------------------


def test_load_reads_utf8_with_a_bom_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.xml"
    path.write_bytes(
        b"\xef\xbb\xbf"  # Windows editors write one
        + '<View><Text name="t" value="$t"/><Choices name="c" toName="t">'
        '<Choice value="café"/></Choices></View>'.encode()
    )
    assert load_label_config(path).controls["c"].labels == frozenset({"café"})
    assert load_label_config(str(path)) == load_label_config(path)
    path.write_text('<View><Text name="t" value="$t">')
    with pytest.raises(ConfigError, match=rf"^{path}:1:32: not valid XML"):
        load_label_config(path)


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    with pytest.raises(ConfigError) as caught:
        load_label_config(missing)
    assert str(caught.value) == f"{missing}: no such labeling config file"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize("kind", ["directory", "latin-1", "utf-16"])
def test_load_unreadable_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "config.xml"
    xml = '<View><Text name="t" value="$t"/><Header value="café"/></View>'
    if kind == "directory":
        path.mkdir()  # (permissions would not stop root, who runs CI containers)
    else:
        path.write_bytes(xml.encode(kind))
    with pytest.raises(ConfigError) as caught:
        load_label_config(path)
    assert str(caught.value).startswith(f"{path}: cannot read labeling config: ")
    assert caught.value.exit_status == ExitStatus.USAGE


# --- every template Label Studio ships ------------------------------------------------------


def _lsserver() -> ModuleType:
    """scripts/lsserver.py, by path (scripts/ is not a package): it knows where Label
    Studio's venv is ($LSIMPORT_LS_VENV or ~/.cache/lsimport/ls-1.23.2)."""
    if "lsserver" in sys.modules:
        return sys.modules["lsserver"]
    spec = importlib.util.spec_from_file_location("lsserver", REPO / "scripts" / "lsserver.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lsserver"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


LS_VENV: Path = _lsserver().venv_dir()
FOUND = sorted(LS_VENV.glob("lib/python3*/site-packages/label_studio/annotation_templates"))
TEMPLATE_ROOT = FOUND[-1] if FOUND else None
NOT_INSTALLED = (
    f"Label Studio's venv is not at {LS_VENV} (set LSIMPORT_LS_VENV, or run "
    "`python scripts/lsserver.py install`; scripts/test installs it, so a second run has it)"
)
TEMPLATES = (
    sorted(
        p.relative_to(TEMPLATE_ROOT).parent.as_posix() for p in TEMPLATE_ROOT.glob("**/config.yml")
    )
    if TEMPLATE_ROOT
    else []
)
EACH_TEMPLATE = pytest.mark.parametrize(
    "name", TEMPLATES or [pytest.param("-", marks=pytest.mark.skip(reason=NOT_INSTALLED))]
)


@cache
def template_xml(name: str) -> str:
    assert TEMPLATE_ROOT is not None
    loaded = yaml.safe_load((TEMPLATE_ROOT / name / "config.yml").read_text("utf-8"))
    xml: str = loaded["config"]
    return xml


ORACLE = """
import json, sys
from pathlib import Path

import yaml
from label_studio.core.label_config import extract_data_types
from label_studio_sdk.label_interface import LabelInterface

out = {}
for name in sys.argv[2:]:
    xml = yaml.safe_load((Path(sys.argv[1]) / name / "config.yml").read_text("utf-8"))["config"]
    li = LabelInterface(xml)
    out[name] = {
        "data_types": extract_data_types(xml),
        "objects": {o.name: o.tag for o in li.objects},
        "controls": {
            c.name: [c.tag, list(c.to_name or []), None if c.dynamic_value else list(c.labels)]
            for c in li.controls
        },
    }
print(json.dumps(out))
"""


@cache
def label_studio_view() -> dict[str, Any]:
    """What Label Studio itself reads from every template, in one run of its venv's Python."""
    assert TEMPLATE_ROOT is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [str(LS_VENV / "bin" / "python"), "-c", ORACLE, str(TEMPLATE_ROOT), *TEMPLATES],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TEMPLATE_ROOT.parent,  # label_studio's own modules import as `core.`, `tasks.`
        env=env,
    )
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout)
    return view


def test_templates_are_found() -> None:
    if TEMPLATE_ROOT is None:
        pytest.skip(NOT_INSTALLED)
    assert len(TEMPLATES) >= 60, f"only {len(TEMPLATES)} templates under {TEMPLATE_ROOT}"


@EACH_TEMPLATE
def test_template_parses_into_a_consistent_config(name: str) -> None:
    xml = template_xml(name)
    config = parse_label_config(xml, source=name)
    assert config.xml == xml
    assert config.controls, "every template labels something"
    for key, ctrl in config.controls.items():
        assert key == ctrl.name and ctrl.to_names
        assert f'name="{ctrl.name}"' in xml
        for label in ctrl.labels or ():
            assert f'"{label}"' in xml, f"{ctrl.name}: label {label!r} is not in the XML"
    for var in config.variables:
        assert f"${var.key}" in xml
        assert var.accepted and all(isinstance(t, type) for t in var.accepted)
    assert config == parse_label_config(xml, source=name), "parsing is deterministic"


@EACH_TEMPLATE
def test_template_variables_are_what_the_server_requires(name: str) -> None:
    """The data keys and tags are label_studio.core.label_config.extract_data_types's."""
    config = parse_label_config(template_xml(name))
    server = {
        key.split("[")[0]: tag for key, tag in label_studio_view()[name]["data_types"].items()
    }
    assert {v.key: v.tag for v in config.variables} == server


@EACH_TEMPLATE
def test_template_controls_are_the_sdks(name: str) -> None:
    """Names, tags, toName and labels as the SDK's LabelInterface reads them. A <Chat> is a
    control too, of its own messages (from_name == to_name): the SDK calls that control
    ChatMessage, lsimport keeps the XML's tag (its region type is chatmessage)."""
    config = parse_label_config(template_xml(name))
    sdk = {
        control: ("Chat" if tag == "ChatMessage" else tag, to_names, labels)
        for control, (tag, to_names, labels) in label_studio_view()[name]["controls"].items()
    }
    # The SDK gives a TextArea or Rating an empty label list where lsimport has None (no
    # labels to check); a dynamic control has None in both. A VideoRectangle has no labels
    # of its own: lsimport gives it its sibling <Labels>' (docs/sdk-differences.md).
    borrowed = {c.name for c in config.controls.values() if c.row and c.row.labels_from_siblings}
    assert {
        c.name: (c.tag, list(c.to_names), [] if c.name in borrowed else sorted(c.labels or ()))
        for c in config.controls.values()
    } == {
        control: (tag, to_names, sorted(labels or ()))
        for control, (tag, to_names, labels) in sdk.items()
    }
    dynamic = {control for control, (_, _, labels) in sdk.items() if labels is None}
    assert {c.name for c in config.controls.values() if c.labels is None} >= dynamic


@EACH_TEMPLATE
def test_template_objects_are_the_sdks_and_every_to_name_is_one(name: str) -> None:
    config = parse_label_config(template_xml(name))
    assert config.objects == label_studio_view()[name]["objects"]
    for ctrl in config.controls.values():
        assert set(ctrl.to_names) <= set(config.objects), ctrl.name
