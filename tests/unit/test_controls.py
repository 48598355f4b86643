"""The table of control types (lsimport/check/controls.py) and the three checkers compiled
from it: on every case generated from every row (tests/fidelity/controlcases.py, valid and
broken), the fast path and the screen are never looser than the full checker, and the valid
cases take both (or they would be useless)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from fidelity.controlcases import Case, cases

from lsimport.check.controls import BY_TAG, BY_TYPE, CONTROL_TYPES, VALUE_KEYS
from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker
from lsimport.check.screen import Screen, compile_screen

CASES = list(cases())


@cache
def compiled(config: str) -> tuple[TaskChecker, Screen | None]:
    parsed = parse_label_config(config)
    return TaskChecker(parsed), compile_screen(parsed)


def dumps(task: Any) -> bytes:
    return json.dumps(task, separators=(",", ":")).encode()


def test_one_row_per_tag_and_type() -> None:
    assert len(BY_TAG) == len(BY_TYPE) == len(CONTROL_TYPES) >= 34
    for row in CONTROL_TYPES:
        names = [f.name for f in row.fields]
        assert len(names) == len(set(names)), row.tag
        assert row.label_key is None or row.label_key in names, row.tag
        assert set(names) <= VALUE_KEYS


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_fast_path_and_screen_are_sound(case: Case) -> None:
    checker, screen = compiled(case.config)
    full = checker.check_fully(case.task)
    if checker._fast(case.task):
        assert full == [], "the fast path passed what the full check reports"
    if screen is not None and screen(dumps(case.task)):
        assert full == [], "the screen passed what the full check reports"
        assert checker._fast(case.task), "the screen must never be looser than the fast path"


def test_valid_cases_take_the_fast_path_and_the_screen() -> None:
    for case in CASES:
        if case.mutation != "ok":
            continue
        checker, screen = compiled(case.config)
        assert checker.check_fully(case.task) == [], case.key
        assert checker._fast(case.task), case.key
        assert screen is not None and screen(dumps(case.task)), case.key
