"""The screen must be sound: when it passes a record's bytes, orjson parses them and neither
checker finds anything. And it must pass ordinary valid tasks, or it is useless.

Hypothesis mutates realistic tasks (values, then raw bytes); hand-picked cases cover where
msgspec and orjson read the same bytes differently."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.pipeline import check_records
from lsimport.check.rules import TaskChecker
from lsimport.check.screen import compile_screen
from lsimport.model import normalise_task
from lsimport.read.stream import Source, iter_source

from .taskgen import CHECKER, CONFIG, PLAIN, VALID, mutated

SCREEN = compile_screen(CONFIG)
PLAIN_SCREEN = compile_screen(None)
TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "templates"


def dumps(task: Any) -> bytes:
    return json.dumps(task, separators=(",", ":")).encode()  # (orjson refuses big integers)


def test_valid_task_passes() -> None:
    assert SCREEN is not None and PLAIN_SCREEN is not None
    assert SCREEN(dumps(VALID))
    assert PLAIN_SCREEN(dumps(VALID))
    assert SCREEN(json.dumps(VALID, indent=2).encode() + b"\r\n")


def _sound(screen: Any, checker: TaskChecker, raw: bytes) -> None:
    """screen(raw) implies: one JSON object, a task, and no finding at all."""
    if not screen(raw):
        return
    value = orjson.loads(raw)  # raises if the screen passed what orjson refuses
    task = normalise_task(value)
    assert task is value, "the screen passed something that is not a task object"
    assert checker._fast(task), "the screen must never be looser than the fast path"
    assert checker.check_fully(task) == []


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_sound_with_config(task: dict[str, Any]) -> None:
    _sound(SCREEN, CHECKER, dumps(task))


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_sound_without_config(task: dict[str, Any]) -> None:
    _sound(PLAIN_SCREEN, PLAIN, dumps(task))


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """Valid bytes with a few bytes replaced, inserted or deleted."""
    raw = bytearray(dumps(draw(mutated())))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(b'{}[]",:0123456789.-+eE \t\n\\tfnu\x00\xff\xc3'))
        if action == "replace":
            raw[at] = byte
        elif action == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    return bytes(raw)


@settings(max_examples=1500, deadline=None)
@given(mangled())
def test_sound_on_mangled_bytes(raw: bytes) -> None:
    _sound(SCREEN, CHECKER, raw)
    _sound(PLAIN_SCREEN, PLAIN, raw)


def _region(index: int) -> dict[str, Any]:
    return copy.deepcopy(VALID["predictions"][0]["result"][index])


def _with(path: list[Any], value: Any) -> bytes:
    task = copy.deepcopy(VALID)
    parent: Any = task
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return dumps(task)


REGION = ["predictions", 0, "result"]


@pytest.mark.parametrize(
    ("why", "raw"),
    [
        ("id beyond 64 bits (orjson: a float)", _with([*REGION, 0, "id"], 2**70)),
        ("span end beyond 64 bits", _with([*REGION, 0, "value", "end"], 2**70)),
        ("span backwards", _with([*REGION, 0, "value", "start"], 9)),
        ("boolean score", _with(["predictions", 0, "score"], True)),
        ("score above 1", _with(["predictions", 0, "score"], 1.5)),
        ("label not in config", _with([*REGION, 0, "value", "labels"], ["Nope"])),
        ("box past the edge", _with([*REGION, 2, "value", "x"], 90)),
        ("point outside", _with([*REGION, 3, "value", "points"], [[1, 2], [3, 140]])),
        ("image region without size", _with([*REGION, 2], {
            k: v for k, v in _region(2).items() if k != "original_width"
        })),
        ("shared ids", _with([*REGION, 1, "id"], "a")),
        ("relation", _with([*REGION, 5], {"type": "relation", "from_id": "a", "to_id": "b"})),
        ("missing type", _with([*REGION, 1], {
            k: v for k, v in _region(1).items() if k != "type"
        })),
        ("unknown from_name", _with([*REGION, 1, "from_name"], "nope")),
        ("wrong to_name", _with([*REGION, 1, "to_name"], "image")),
        ("data variable missing", _with(["data"], {"image": "x"})),
        ("data variable of a wrong type", _with(["data", "text"], {"a": 1})),
        ("predictions inside data", _with(["data", "predictions"], [])),
        ("null meta", _with(["meta"], None)),
        ("deep nesting orjson refuses", b'{"data":{"text":"t","image":"i","x":'
            + b"[" * 1100 + b"]" * 1100 + b"}}"),
        ("duplicate key, last one wrong", dumps(VALID)[:-1] + b',"data":{"text":5}}'),
        ("lone surrogate", b'{"data":{"text":"\\ud800","image":"i"}}'),
        ("not an object", b"[1, 2]"),
        ("no data key", b'{"text": "t", "image": "i"}'),
        ("trailing garbage", dumps(VALID) + b" x"),
        ("a BOM", b"\xef\xbb\xbf" + dumps(VALID)),
        # msgspec skips unknown keys without reading them closely: nothing may be skipped
        ("invalid UTF-8 in an unknown key", dumps(VALID)[:-1] + b',"\xffx":1}'),
        ("invalid UTF-8 in an unknown value", dumps(VALID)[:-1] + b',"x":"\xff"}'),
        ("an encoded surrogate", dumps(VALID)[:-1] + b',"x":"\xed\xa0\x80"}'),
        ("1e999 in an unknown value", dumps(VALID)[:-1] + b',"x":1e999}'),
        ("1e999 in a known, unchecked value", dumps(VALID)[:-1] + b',"drafts":1e999}'),
        ("1e999 in a region's value",
            dumps(VALID).replace(b'"start":0', b'"text":1e999,"start":0')),
    ],
)  # fmt: skip
def test_declines(why: str, raw: bytes) -> None:
    assert SCREEN is not None
    assert not SCREEN(raw), why


def test_duplicate_key_last_one_right_is_read_like_orjson() -> None:
    raw = b'{"data":{"text":5},' + dumps(VALID)[1:]
    assert SCREEN is not None and SCREEN(raw)
    assert CHECKER.check_fully(orjson.loads(raw)) == []


def test_dotted_variables_are_beyond_the_screen() -> None:
    config = parse_label_config('<View><Text name="t" value="$meta.text"/></View>')
    assert compile_screen(config) is None


SHARED = parse_label_config(
    """<View>
  <Text name="text" value="$text"/><Text name="title" value="$title"/>
  <Choices name="sentiment" toName="text"><Choice value="Pos"/><Choice value="Neg"/></Choices>
  <Choices name="topic" toName="title"><Choice value="Sport"/><Choice value="News"/></Choices>
  <Labels name="who" toName="text"><Label value="PER"/></Labels>
  <Labels name="any" toName="title"/>
</View>"""
)


def _choice(name: str, to: str, label: str) -> bytes:
    region = {"from_name": name, "to_name": to, "type": "choices", "value": {"choices": [label]}}
    task = {"data": {"text": "a", "title": "b"}, "predictions": [{"result": [region]}]}
    return dumps(task)


def test_controls_sharing_a_type_keep_their_own_targets_and_labels() -> None:
    screen = compile_screen(SHARED)
    checker = TaskChecker(SHARED)
    assert screen is not None
    assert screen(_choice("sentiment", "text", "Pos"))
    assert screen(_choice("topic", "title", "News"))
    for raw in (
        _choice("sentiment", "title", "Pos"),  # topic's target
        _choice("sentiment", "text", "News"),  # topic's label
        _choice("topic", "title", "Pos"),
    ):
        assert not screen(raw)
        assert checker.check_fully(orjson.loads(raw)) != []


def _template(name: str) -> tuple[Any, TaskChecker, list[Any]]:
    """(screen, checker, example tasks) of one of Label Studio's templates."""
    config = parse_label_config((TEMPLATES / name / "config.xml").read_text())
    screen = compile_screen(config)
    assert screen is not None
    tasks = []
    for kind in ("positive", "negative"):
        found = json.loads((TEMPLATES / name / f"{kind}.json").read_text())
        tasks += found if isinstance(found, list) else [found]
    return screen, TaskChecker(config), tasks


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.iterdir()))
def test_label_studio_templates(name: str) -> None:
    """Sound on every template's examples, and as useful as the fast path on them."""
    screen, checker, tasks = _template(name)
    for task in tasks:
        raw = dumps(task)
        _sound(screen, checker, raw)
        normalised = normalise_task(task)
        if normalised is task and checker._fast(task):
            assert screen(raw), f"{name}: the fast path passes it, the screen should"


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_readers_report_the_same_with_and_without_the_screen(tmp_path: Path, fmt: str) -> None:
    bad_label = _with([*REGION, 0, "value", "labels"], ["Nope"])
    lines = [dumps(VALID), bad_label, b"{oops", dumps(VALID), b'{"data": 5}', dumps(VALID)]
    path = tmp_path / f"tasks.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(b"\n".join(lines) + b"\n")
    else:
        path.write_bytes(b"[\n" + b",\n".join(lines) + b"\n]\n")

    def seen(screen: Any) -> list[tuple[int, int, list[str]]]:
        source = Source(str(path), path.name)
        records = iter_source(source, stdin=io.BytesIO(), screen=screen)
        return [
            (r.number, r.line, [f.code for f in r.findings])
            for r in check_records(records, CHECKER)
        ]

    plain = seen(None)
    assert seen(SCREEN) == plain
    assert [codes for _, _, codes in plain if codes]  # the file does have findings


def test_screens_are_for_big_files_and_stdin(tmp_path: Path) -> None:
    from lsimport.check.pipeline import MIN_SCREEN_BYTES, Screens

    small = tmp_path / "small.jsonl"
    small.write_bytes(dumps(VALID) + b"\n")
    big = tmp_path / "big.jsonl"
    big.write_bytes((dumps(VALID) + b"\n") * (MIN_SCREEN_BYTES // len(dumps(VALID)) + 1))
    screens = Screens(CONFIG)
    assert (
        screens.for_source(Source(str(small), "small")) is None
    )  # msgspec's import would cost more
    screen = screens.for_source(Source(str(big), "big"))
    assert screen is not None and screen(dumps(VALID))
    assert screens.for_source(Source("-", "<stdin>")) is screen  # compiled once
    assert screens.for_source(Source(str(tmp_path / "gone"), "gone")) is None


# --------------------------------------------------------------------------- blocks of lines


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(mutated().map(dumps), mangled()), min_size=1, max_size=6))
def test_a_block_passes_only_lines_that_each_pass(lines: list[bytes]) -> None:
    """`block` is the lean half of the line screen, on every line at once: never looser."""
    assert SCREEN is not None
    if SCREEN.block(lines):
        for raw in lines:
            _sound(SCREEN, CHECKER, raw)
            assert SCREEN(raw)


LINE_KINDS = [
    dumps(VALID) + b"\n",
    dumps(VALID) + b"\r\n",
    _with([*REGION, 0, "value", "labels"], ["Nope"]) + b"\n",
    b"\n",
    b"  \r\n",
    b'{"data": {"text": "cut short\n',
    b"[1, 2]\n",
    b'{"text": "t", "image": "i"}\n',  # a task without `data`
    dumps({**VALID, "inner_id": 3, "drafts": []}) + b"\n",  # a JSON export's task
    dumps({"data": {**VALID["data"], "annotation_id": 1, "annotator": "a@b.c",
                    "created_at": "x", "updated_at": "y", "lead_time": 2.0}}) + b"\n",
    b"\xef\xbb\xbf" + dumps(VALID) + b"\n",  # a BOM where no BOM may be
]  # fmt: skip


def _read_all(path: Path, screen: Any, block_bytes: int = 1 << 16) -> tuple[int, list[Any]]:
    """(records, [(number, line, codes)] of those with findings) as validate reads them."""
    from lsimport.read.exports import iter_import_records
    from lsimport.read.jsonl import iter_jsonl

    with path.open("rb") as stream:
        records = iter_jsonl(stream, path.name, screen, block_bytes=block_bytes)
        total = 0
        flagged = []
        for rec in check_records(iter_import_records(records), CHECKER):
            total += rec.count
            if rec.findings:
                flagged.append((rec.number, rec.line, [f.code for f in rec.findings]))
    return total, flagged


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(LINE_KINDS))), max_size=40),
    st.sampled_from([1, 5, 64, 300, 1 << 16]),
    st.booleans(),
)
def test_reading_blocks_reports_what_reading_lines_reports(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[int], block_bytes: int, bom: bool
) -> None:
    """Records, their numbers and lines, and findings are those of the unscreened reader, at
    any block size (lines longer than a block too), with and without a last line ending."""
    body = b"".join(LINE_KINDS[k] for k in kinds)
    if bom:
        body = b"\xef\xbb\xbf" + body
    for content in (body, body.rstrip(b"\r\n")):
        path = tmp_path_factory.mktemp("blocks") / "tasks.jsonl"
        path.write_bytes(content)
        assert _read_all(path, SCREEN, block_bytes) == _read_all(path, None)


def test_blocks_of_clean_lines_are_one_record_each(tmp_path: Path) -> None:
    path = tmp_path / "clean.jsonl"
    path.write_bytes((dumps(VALID) + b"\n") * 1000)
    from lsimport.read.jsonl import iter_jsonl

    with path.open("rb") as stream:
        records = list(iter_jsonl(stream, path.name, SCREEN, block_bytes=4096))
    assert sum(r.count for r in records) == 1000
    assert len(records) < 1000 // 4 and all(r.screened and r.raw is None for r in records)
    assert [r.number for r in records] == [r.line for r in records]  # no blank lines


def test_the_lean_screen_passes_no_export_record() -> None:
    """Exports take the full path, where their findings come from (read/exports.py)."""
    assert SCREEN is not None
    for raw in (LINE_KINDS[8], LINE_KINDS[9]):
        assert not SCREEN.block([raw.rstrip(b"\n")])
        assert not SCREEN(raw)


# --------------------------------------------------------------------------- triage


def _triage_agrees(screen: Any, checker: TaskChecker, raw: bytes) -> bool:
    """When triage speaks for the line, it says what the full checker says, in its order."""
    triaged = screen.triage([raw])
    if triaged is None:
        return False
    task = normalise_task(orjson.loads(raw))
    assert task is not None
    assert list(triaged[0]) == checker.check(task)
    return True


LABELLED = [  # (region index in VALID's result, the value key holding its labels)
    (i, key)
    for i, region in enumerate(VALID["predictions"][0]["result"])
    for key in ("labels", "choices", "rectanglelabels", "polygonlabels", "taxonomy")
    if key in region.get("value", {})
]
LABELS = st.lists(st.sampled_from(["PER", "ORG", "Car", "Positive", "Nope", "per", "", "A"]))


@st.composite
def mislabelled(draw: st.DrawFn) -> dict[str, Any]:
    """VALID with some regions' labels replaced (known, unknown, another control's)."""
    task = copy.deepcopy(VALID)
    result = task["predictions"][0]["result"]
    for index, key in draw(st.lists(st.sampled_from(LABELLED), min_size=1)):
        result[index]["value"][key] = draw(LABELS)
    if draw(st.booleans()):
        task["annotations"] = [copy.deepcopy(task["predictions"][0])]
    return task


@settings(max_examples=800, deadline=None)
@given(mislabelled())
def test_triage_finds_what_the_full_check_finds(task: dict[str, Any]) -> None:
    _triage_agrees(SCREEN, CHECKER, dumps(task))


@settings(max_examples=800, deadline=None)
@given(st.one_of(mutated().map(dumps), mangled()))
def test_triage_speaks_only_for_what_it_knows(raw: bytes) -> None:
    _triage_agrees(SCREEN, CHECKER, raw)


def test_triage_speaks_for_a_wrong_label() -> None:
    assert SCREEN is not None
    raw = _with([*REGION, 0, "value", "labels"], ["Nope"])
    assert _triage_agrees(SCREEN, CHECKER, raw)
    assert _triage_agrees(SCREEN, CHECKER, dumps(VALID))  # clean: no findings
    assert SCREEN.triage([raw, b"{oops"]) is None  # one line it cannot speak for: none


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.iterdir()))
def test_triage_on_label_studio_templates(name: str) -> None:
    """Every template's examples, and each with its first label made unknown."""
    screen, checker, tasks = _template(name)
    for task in tasks:
        _triage_agrees(screen, checker, dumps(task))
        for item in task.get("predictions", []) if isinstance(task, dict) else []:
            for region in item.get("result", []) if isinstance(item, dict) else []:
                value = region.get("value") if isinstance(region, dict) else None
                for key, labels in (value or {}).items():
                    if isinstance(labels, list) and labels and isinstance(labels[0], str):
                        value[key] = ["Not a label of this config", *labels[1:]]
                        _triage_agrees(screen, checker, dumps(task))
                        value[key] = labels


@pytest.mark.parametrize(
    ("data", "passes"),
    [
        ({"text": "a", "image": "i"}, True),
        ({"text": 5, "image": "i"}, True),  # Text takes numbers: orjson's int and float
        ({"text": 5.5, "image": ["i", "j"]}, True),
        ({"text": "a", "image": "i", "id": 7}, True),  # more keys: the dict-typed screen
        ({"text": True, "image": "i"}, False),
        ({"text": None, "image": "i"}, False),
        ({"text": "a", "image": 5}, False),  # Image takes strings and lists only
        ({"text": 2**70, "image": "i"}, True),  # beyond 64 bits: Any holds it (orjson: a float)
        ({"text": "a"}, False),
        ({"text": "a", "image": "i", "predictions": []}, None),
    ],
)
def test_data_of_the_variables_alone_is_screened_as_the_full_check_says(
    data: dict[str, Any], passes: bool | None
) -> None:
    """A block whose data are the config's variables alone decodes them as a struct (no hook
    runs); the values it passes are those the full check takes (None: it declines, and the
    full check decides)."""
    assert SCREEN is not None
    raw = _with(["data"], data)
    assert SCREEN.block([raw]) is bool(passes)
    assert SCREEN(raw) is bool(passes)
    if passes is not None:
        assert (CHECKER.check(normalise_task(orjson.loads(raw)) or {}) == []) is passes


EXPORTS = Path(__file__).resolve().parents[1] / "data" / "exports"


@pytest.mark.parametrize("name", ["export.json", "snap.json", "export-min.json"])
def test_label_studio_s_own_exports_read_by_blocks_keep_their_findings(
    tmp_path: Path, name: str
) -> None:
    """Real exports of Label Studio 1.23.2 (tests/data/exports), as JSONL: the block screen
    passes none of their records unbuilt, so validate reports what it reports without it,
    the export's own findings included."""
    from lsimport.read.exports import iter_import_records
    from lsimport.read.jsonl import iter_jsonl

    config = parse_label_config((EXPORTS / "config.xml").read_text())
    screen, checker = compile_screen(config), TaskChecker(config)
    path = tmp_path / "export.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps(t) + b"\n" for t in orjson.loads((EXPORTS / name).read_bytes()))
    )

    def read(with_screen: Any) -> list[tuple[int, int, list[str]]]:
        with path.open("rb") as stream:
            records = iter_import_records(iter_jsonl(stream, path.name, with_screen))
            return [
                (r.number, r.line, [f.code for f in r.findings])
                for r in check_records(records, checker)
                for _ in range(r.count)
            ]

    seen = read(screen)
    assert seen == read(None)
    assert len(seen) == 4  # the 4 tasks of the exported project
    if name != "snap.json":  # ids for predictions, user ids, a flattened annotation
        assert any(code.startswith("export.") for *_, codes in seen for code in codes)
