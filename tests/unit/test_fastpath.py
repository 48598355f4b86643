"""The fast path must be sound: when it says "nothing to report", the full checker agrees.

Hypothesis mutates realistic tasks (types swapped, keys dropped, numbers pushed out of
range, labels renamed) and checks `fast(task) implies check_fully(task) == []`. A few
hand-picked valid tasks must take the fast path (or it would be useless)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings

from .taskgen import CHECKER, PLAIN, VALID, mutated


def test_valid_task_takes_the_fast_path() -> None:
    assert CHECKER.check_fully(VALID) == []
    assert CHECKER._fast(VALID) is True
    assert PLAIN._fast(VALID) is True


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_fast_path_is_sound_with_config(task: dict[str, Any]) -> None:
    if CHECKER._fast(task):
        assert CHECKER.check_fully(task) == []


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_fast_path_is_sound_without_config(task: dict[str, Any]) -> None:
    if PLAIN._fast(task):
        assert PLAIN.check_fully(task) == []


def test_checker_uses_full_check_when_fast_path_declines() -> None:
    task = copy.deepcopy(VALID)
    task["predictions"][0]["result"][0]["value"]["labels"] = ["Nope"]
    assert CHECKER._fast(task) is False
    assert [f.code for f in CHECKER.check(task)] == ["config.label"]
