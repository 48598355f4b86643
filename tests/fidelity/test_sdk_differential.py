"""lsimport against the SDK's own check, `LabelInterface.validate_prediction`, on cases
generated from every row of lsimport/check/controls.py (tests/fidelity/controlcases.py).

The two must agree, error for error, except where docs/sdk-differences.md says otherwise and
why: each disagreement must match a row of its table, and each row must match one.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker

from .controlcases import Case, cases
from .sdk_oracle import validate

DOC = Path(__file__).resolve().parents[2] / "docs" / "sdk-differences.md"
ROW = re.compile(r"^\| `([^`]+)` \|")


def documented() -> list[str]:
    """The case patterns in the table of docs/sdk-differences.md."""
    return [m.group(1) for line in DOC.read_text().splitlines() if (m := ROW.match(line))]


@pytest.fixture(scope="module")
def verdicts() -> list[tuple[Case, list[str], list[str]]]:
    """(case, SDK errors, lsimport errors) for every generated case: one SDK run for all."""
    all_cases = list(cases())
    sdk = validate([(c.config, c.prediction) for c in all_cases])
    checkers: dict[str, TaskChecker] = {}
    out = []
    for case, sdk_errors in zip(all_cases, sdk, strict=True):
        checker = checkers.setdefault(case.config, TaskChecker(parse_label_config(case.config)))
        ours = [f"{f.code} {f.pointer}" for f in checker.check_fully(case.task) if f.is_error]
        out.append((case, sdk_errors, ours))
    return out


def test_every_control_type_is_covered(verdicts: list[tuple[Case, list[str], list[str]]]) -> None:
    from lsimport.check.controls import CONTROL_TYPES

    covered = {case.row.result_type for case, _, _ in verdicts}
    assert covered == {row.result_type for row in CONTROL_TYPES}
    assert len(verdicts) > 500


def test_valid_values_pass_both(verdicts: list[tuple[Case, list[str], list[str]]]) -> None:
    for case, sdk, ours in verdicts:
        if case.mutation == "ok":
            assert (sdk, ours) == ([], []), case.key


def test_lsimport_is_never_looser_than_the_sdk(
    verdicts: list[tuple[Case, list[str], list[str]]],
) -> None:
    looser = [(case.key, sdk[0]) for case, sdk, ours in verdicts if sdk and not ours]
    assert looser == []


def test_every_disagreement_is_documented(
    verdicts: list[tuple[Case, list[str], list[str]]],
) -> None:
    patterns = documented()
    assert patterns, f"no table in {DOC}"
    stricter = [case.key for case, sdk, ours in verdicts if ours and not sdk]
    unexplained = [k for k in stricter if not any(fnmatchcase(k, p) for p in patterns)]
    assert unexplained == [], f"disagreements with the SDK missing from {DOC.name}"
    stale = [p for p in patterns if not any(fnmatchcase(k, p) for k in stricter)]
    assert stale == [], f"rows of {DOC.name} that no case needs any more"


def test_broken_variants_are_caught_by_both(
    verdicts: list[tuple[Case, list[str], list[str]]],
) -> None:
    """Names, types and labels: what both must refuse, for every control type."""
    for case, sdk, ours in verdicts:
        if case.mutation in ("from_name", "to_name", "type", "label", "label shape"):
            assert ours, case.key
            # (the SDK takes any label on a VideoRectangle: docs/sdk-differences.md)
            assert sdk or case.key == "videorectangle@Video:label", case.key
