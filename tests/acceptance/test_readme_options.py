"""Every option of every command is in the README's option table, with an example."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from lsimport.cli import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
TABLE = README[README.index("### Every option, with an example") : README.index("## Configuration")]
SHARED = {"--url", "--api-key", "--ca-bundle", "--timeout", "--help", "-h"}


def test_every_option_of_every_command_is_documented() -> None:
    command = typer.main.get_command(app)
    missing = []
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        rows = [line for line in TABLE.splitlines() if line.startswith(f"| {name} |")]
        for param in sub.params:
            longs = [o for o in param.opts if o.startswith("--")]
            if not longs or longs[0] in SHARED:
                continue
            if not any(f"`{longs[0]}" in row and "lsimport " in row for row in rows):
                missing.append(f"{name} {longs[0]}")
    assert missing == []


def test_shared_options_are_documented() -> None:
    for option in sorted(SHARED - {"-h"}):
        assert re.search(rf"`{option}\b", TABLE), option
