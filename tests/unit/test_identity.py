"""Task identity (lsimport.send.keys.Identity): two records are two tasks, a rerun is harmless."""

from __future__ import annotations

from typing import Any

import pytest

from lsimport.errors import UsageError
from lsimport.model import Finding
from lsimport.send.keys import KEY_FIELD, Identity, Repeat, base_key, data_hash


def task(text: str, **extra: Any) -> dict[str, Any]:
    return {"data": {"text": text}, **extra}


def keys(identity: Identity, tasks: list[dict[str, Any]]) -> list[Any]:
    return [identity(t) for t in tasks]


def test_the_first_occurrence_keeps_the_bare_hash_later_ones_count() -> None:
    h, g = data_hash({"text": "a"}), data_hash({"text": "b"})
    got = keys(Identity(), [task("a"), task("b"), task("a"), task("a", meta={"x": 1}), task("b")])
    assert got == [h, g, f"{h}#2", f"{h}#3", f"{g}#2"]


def test_occurrences_count_within_one_input() -> None:
    identity = Identity()
    first = keys(identity, [task("a"), task("a")])
    identity.new_input()
    assert keys(identity, [task("a"), task("a")]) == first  # the same file again: same keys


def test_the_same_input_gives_the_same_keys_on_every_run() -> None:
    tasks = [task(t) for t in "abacabba"]
    assert keys(Identity(), tasks) == keys(Identity(), tasks)


def test_a_key_the_task_carries_is_kept() -> None:
    carried = task("a", meta={KEY_FIELD: "abc#2"})
    assert Identity()(carried) == "abc#2"
    assert Identity(dedupe=True)(carried) == data_hash({"text": "a"})  # content decides


def test_invalid_records_keep_their_place_among_repeats() -> None:
    identity = Identity()
    h = data_hash({"text": "a"})
    assert identity.of_invalid(task("a")) == h
    assert identity(task("a")) == f"{h}#2"
    assert Identity("data.text").of_invalid(task("a")) is None
    assert Identity(dedupe=True).of_invalid(task("a")) is None


def test_dedupe_keys_by_data_and_marks_repeats() -> None:
    h = data_hash({"text": "a"})
    identity = Identity(dedupe=True)
    got = keys(identity, [task("a"), task("b"), task("a")])
    assert got[0] == h and got[2] == Repeat(h)
    identity.new_input()  # content: a repeat in a later input of the run is one too
    assert identity(task("a")) == Repeat(h)
    assert base_key(f"{h}#3") == h and base_key(h) == h


def test_key_from_a_field_marks_repeats_unless_duplicates_are_allowed() -> None:
    got = keys(Identity("data.text"), [task("a"), task("a"), task("b")])
    assert got == ["a", Repeat("a"), "b"]
    assert keys(Identity("data.text", repeats=False), [task("a"), task("a")]) == ["a", "a"]
    missing = Identity("data.id")(task("a"))
    assert isinstance(missing, Finding) and missing.code == "key.missing"


@pytest.mark.parametrize("spec", ["text", "data", "data.", "meta.x"])
def test_bad_key_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        Identity(spec)


def test_key_and_dedupe_do_not_mix() -> None:
    with pytest.raises(UsageError, match="--dedupe"):
        Identity("data.text", dedupe=True)


def test_the_counter_holds_no_key_as_a_string() -> None:
    identity = Identity()
    for i in range(1000):
        identity(task(str(i % 10)))
    assert len(identity._counts) == 10
    assert all(isinstance(k, int) and k < 2**60 for k in identity._counts)


def test_each_input_counts_its_own_occurrences_even_a_file_named_twice() -> None:
    from lsimport.model import Record
    from lsimport.run import by_input

    def rec(file: str, n: int) -> Record:
        return Record(file, n, n, task("a"))

    identity = Identity()
    stream = [rec("a.jsonl", 1), rec("a.jsonl", 2), rec("a.jsonl", 1), rec("b.jsonl", 1)]
    got = [identity(r.task) for r in by_input(stream, identity) if r.task is not None]
    h = data_hash({"text": "a"})
    assert got == [h, f"{h}#2", h, h]


def test_verify_matches_each_record_to_its_own_task() -> None:
    from lsimport.model import Record
    from lsimport.send.verify import ProjectIndex, Verifier

    h = data_hash({"text": "a"})
    index = ProjectIndex()
    index.add({"id": 1, "data": {"text": "a"}, "meta": {KEY_FIELD: h}})
    index.add({"id": 2, "data": {"text": "a"}, "meta": {KEY_FIELD: f"{h}#2"}})
    records = [Record("in.jsonl", n, n, task("a")) for n in (1, 2, 3)]
    verifier = Verifier(index, 7)
    assert [(v.record, v.kind) for v in verifier.run(records)] == [(3, "missing")]
    assert verifier.summary.exact == 2
