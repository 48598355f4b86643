#!/usr/bin/env python3
"""Print pins of the lowest dependency versions pyproject.toml allows: each `>=X` as `==X`.

pip has no `--resolution lowest` (uv's), so CI installs these pins into a venv of its own and
runs the CLI tests there: a lower bound that no longer works (typer 0.15 lacks
typer.TyperException) is then a failing test, not a user's traceback.

    python scripts/lowest_requirements.py [--extra dev] > lowest.txt
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import tomllib  # Python 3.11+: CI's interpreter (the package itself supports 3.10)

ROOT = Path(__file__).resolve().parent.parent
# name, optional extras, then the specifiers (up to a `;` marker)
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")


def lowest_pin(requirement: str) -> str:
    """`typer>=0.15,<0.29` -> `typer==0.15`; a requirement without `>=` is kept as it is."""
    m = _REQUIREMENT.match(requirement)
    if m is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    name, extras, specifiers = m.group(1), m.group(2) or "", m.group(3)
    floors = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    if not floors:
        return requirement.strip()
    if len(floors) > 1:
        raise ValueError(f"{requirement!r} has more than one lower bound")
    return f"{name}{extras}=={floors[0]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="also pin this extra")
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    args = parser.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for extra in args.extra:
        requirements += project.get("optional-dependencies", {})[extra]
    for requirement in requirements:
        sys.stdout.write(lowest_pin(requirement) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
