"""README.md is true: every shell example in it runs, and prints what the README says.

Each ```console block of the README follows a marker comment saying how it is tested:

    <!-- test: offline -->          run here, in a copy of sample_data/, with no server
    <!-- test: offline exit=1 -->   ... and every command exits 1 (`exit=0,1`: one per command)
    <!-- test: server ... -->       needs Label Studio: tests/integration/test_demo_and_wheel.py
                                    runs these, in README order, with lsimport from a built wheel
    <!-- test: demo -->             the output of ./scripts/demo, checked by the same file
    <!-- test: skip: REASON -->     not run (it installs something or edits your shell's files)

A block is `$ command` lines (a trailing backslash continues one), each followed by the output
it prints, stdout and stderr together. The output must match line for line, except that `...`
on a line of its own stands for any number of lines, and inside a line for any text.

The helpers here (parse_readme, run_block, ...) are also used by the integration tests.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SAMPLE_DATA = REPO / "sample_data"
KINDS = ("sentiment", "ner", "images", "dialogue")
LANGUAGES = ("console", "shell", "sh", "bash")
MARKER = re.compile(r"<!--\s*test:\s*(?P<kind>offline|server|demo|skip)\b(?P<args>.*?)-->")
PROJECT_OPTION = re.compile(r"(?P<opt>--(?:from-)?project[ =]|-p )(?P<id>\d+)\b")
EXPORT = re.compile(r"^export (?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>\S+)$")


@dataclass
class Command:
    line: int  # README line of the `$ `
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int  # README line of the opening fence
    kind: str
    args: str
    text: str
    commands: list[Command]

    def exits(self) -> list[int]:
        """The exit status each command must have (`exit=N` or `exit=N,M,...`; default 0)."""
        match = re.search(r"\bexit=([\d,]+)", self.args)
        runnable = [c for c in self.commands if not EXPORT.match(c.text)]
        if match is None:
            return [0] * len(runnable)
        codes = [int(x) for x in match.group(1).split(",")]
        if len(codes) == 1:
            return codes * len(runnable)
        assert len(codes) == len(runnable), f"README line {self.line}: {len(codes)} exit codes"
        return codes

    def where(self) -> str:
        return f"README.md line {self.line}"


def parse_readme(text: str) -> list[Block]:
    """Every fenced shell block, with the marker before it (a missing marker is an error)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, language = i, fence.group(2)
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1
        if language not in LANGUAGES:
            continue
        previous = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = MARKER.search(previous)
        if marker is None:
            raise AssertionError(
                f"README.md line {start + 1}: a ```{language} block without a "
                "`<!-- test: ... -->` marker on the line before it"
            )
        kind = marker.group("kind")
        if kind == "demo":  # its output shows the commands it runs, `$ ` and all
            assert body and body[0].startswith("$ "), f"README.md line {start + 1}: no command"
            commands = [Command(start + 2, body[0][2:], body[1:])]
        else:
            commands = _commands(body, start + 2)
        blocks.append(
            Block(
                line=start + 1,
                kind=kind,
                args=marker.group("args").strip(),
                text="\n".join(body),
                commands=commands,
            )
        )
    return blocks


def _commands(body: list[str], first_line: int) -> list[Command]:
    commands: list[Command] = []
    continuing = False
    for n, raw in enumerate(body, first_line):
        if continuing:
            commands[-1].text += "\n" + raw
            continuing = raw.endswith("\\")
        elif raw.startswith("$ "):
            commands.append(Command(n, raw[2:]))
            continuing = raw.endswith("\\")
        elif commands:
            commands[-1].expected.append(raw)
        elif raw.strip():
            raise AssertionError(f"README.md line {n}: output before any `$ ` command")
    return commands


# --------------------------------------------------------------------------- matching


def output_pattern(expected: Sequence[str]) -> re.Pattern[str]:
    """`...` alone: any lines; `...` inside a line: any text; the rest literally."""
    parts: list[str] = []
    for line in expected:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            literal = ".*?".join(re.escape(piece) for piece in line.rstrip().split("..."))
            parts.append(literal + r"[ \t]*\n")
    return re.compile("".join(parts), re.DOTALL)


def output_matches(expected: Sequence[str], actual: str) -> bool:
    text = "".join(line.rstrip() + "\n" for line in actual.splitlines())
    return output_pattern(expected).fullmatch(text) is not None


def mismatch(command: Command, status: int, expected: Sequence[str], actual: str) -> str:
    return (
        f"README.md line {command.line}: `{command.text}` (exit {status}) printed:\n"
        f"{actual}\n--- but the README shows:\n" + "\n".join(expected)
    )


# --------------------------------------------------------------------------- running


def example_env(
    bin_dir: Path, workdir: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A user's shell: lsimport on PATH, no Label Studio settings unless given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABEL_STUDIO_", "LSIMPORT_", "PYTEST_"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_STATE_HOME"] = str(workdir / ".state")  # where stdin's journal goes
    env["COLUMNS"] = "80"
    env.update(extra or {})
    return env


def copy_sample_data(workdir: Path) -> Path:
    """The user's directory: a throwaway copy of sample_data/ (uploads write journals there)."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SAMPLE_DATA, workdir / "sample_data", ignore=shutil.ignore_patterns("*journal"))
    return workdir


def run_block(
    block: Block,
    env: dict[str, str],
    cwd: Path,
    *,
    rewrite: Callable[[str], str] = lambda text: text,
    normalise: Callable[[str], str] = lambda text: text,
    normalise_expected: Callable[[str], str] | None = None,
    timeout: float = 300,
) -> None:
    """Run a block's commands in order in one directory; fail on the first that differs.

    `export NAME=VALUE` commands set the environment of the commands after them. `rewrite`
    turns the README's command into the one to run (server URL, project ids); `normalise` is
    applied to both the actual and the expected output (timings, ports), unless
    `normalise_expected` is given for the expected one (the README's project ids are no real
    ids to map back: a real id may equal another README id).
    """
    exits = iter(block.exits())
    for command in block.commands:
        text = rewrite(command.text)
        export = EXPORT.match(text)
        if export:
            env[export.group("name")] = shlex.split(export.group("value"))[0]
            assert not command.expected, f"README.md line {command.line}: export prints nothing"
            continue
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        actual = normalise(done.stdout)
        expected = (normalise_expected or normalise)("\n".join(command.expected)).splitlines()
        assert output_matches(expected, actual), mismatch(
            command, done.returncode, expected, done.stdout
        )
        want = next(exits)
        assert done.returncode == want, (
            f"README.md line {command.line}: `{command.text}` exited {done.returncode}, "
            f"the README's marker says {want}; output:\n{done.stdout}"
        )


def readme_blocks(kind: str | None = None) -> list[Block]:
    blocks = parse_readme(README.read_text(encoding="utf-8"))
    return [b for b in blocks if kind is None or b.kind == kind]


def lsimport_bin() -> Path:
    """The directory of the lsimport that these tests run (the project venv's)."""
    return Path(sys.executable).parent


# --------------------------------------------------------------------------- the tests


OFFLINE = readme_blocks("offline")


@pytest.mark.parametrize("block", OFFLINE, ids=[f"line{b.line}" for b in OFFLINE])
def test_offline_example(block: Block, tmp_path: Path) -> None:
    for command in block.commands:
        assert not PROJECT_OPTION.search(command.text), (
            f"{block.where()}: a --project example needs a server: mark it `test: server`"
        )
    workdir = copy_sample_data(tmp_path)
    run_block(block, example_env(lsimport_bin(), workdir), workdir, timeout=60)


def test_every_shell_block_is_marked_and_most_are_run() -> None:
    blocks = readme_blocks()
    kinds = [b.kind for b in blocks]
    assert kinds.count("demo") == 1
    assert kinds.count("offline") >= 8
    assert kinds.count("server") >= 5
    for block in blocks:
        if block.kind == "skip":
            assert block.args.startswith(":") and len(block.args) > 10, (
                f"{block.where()}: `test: skip` needs a reason: `<!-- test: skip: why -->`"
            )
        else:
            assert block.commands, f"{block.where()}: a tested block without a `$ ` command"


def test_quick_start_comes_first_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Quick start"
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first = parse_readme(quick)[0]
    assert [c.text.split("#")[0].strip() for c in first.commands] == [
        "./scripts/demo",
        "./scripts/test",
    ]
    for script in ("demo", "test"):
        assert os.access(REPO / "scripts" / script, os.X_OK), f"scripts/{script} not executable"


def test_exit_code_table_lists_every_exit_status() -> None:
    from lsimport.errors import ExitStatus

    text = README.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| `(\d+)` \|", section, re.MULTILINE)}
    assert listed == {int(status) for status in ExitStatus}


def test_every_command_is_documented_and_its_help_has_an_example() -> None:
    from typer.main import get_command

    from lsimport.cli import app

    text = README.read_text(encoding="utf-8")
    commands = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"validate", "upload", "whoami", "schema"} <= set(commands)
    for name in commands:
        assert f"### `lsimport {name}`" in text, f"README has no section for `lsimport {name}`"
        done = subprocess.run(
            [str(lsimport_bin() / "lsimport"), name, "--help"],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "100"},
            check=True,
        )
        assert "Example" in done.stdout, f"`lsimport {name} --help` shows no example"


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("lsimport val", 1, ["validate"]),
        ("lsimport upload --pre", 2, ["--preannotated-from-fields"]),
        ("lsimport predictions --match", 2, ["--match-on"]),
    ],
)
def test_shell_completion_the_readme_offers_completes(
    words: str, cword: int, expected: list[str]
) -> None:
    """What `--install-completion` installs asks lsimport itself, through this protocol."""
    env = {**os.environ, "_LSIMPORT_COMPLETE": "complete_bash"}
    env |= {"COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run(
        [str(lsimport_bin() / "lsimport")], env=env, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.split()) == (0, expected)
    assert "--install-completion" in README.read_text(encoding="utf-8")


def test_sample_data_has_every_format_and_a_config_per_kind() -> None:
    for kind in KINDS:
        assert (SAMPLE_DATA / kind / "config.xml").is_file(), kind
    suffixes = {p.suffix for p in SAMPLE_DATA.glob("*/*") if p.name != "config.xml"}
    assert {".json", ".jsonl", ".csv"} <= suffixes
    header = (SAMPLE_DATA / "images" / "tasks.csv").read_text().splitlines()[0]
    assert header.split(",")[-1] == "predictions"


def test_the_pre_commit_snippet_names_a_hook_the_repository_declares() -> None:
    text = README.read_text(encoding="utf-8")
    snippet = re.search(r"```yaml\n(repos:.*?)```", text, re.DOTALL)
    assert snippet is not None, "README has no pre-commit snippet"
    assert "- id: lsimport-validate" in snippet.group(1)
    hooks = REPO / ".pre-commit-hooks.yaml"
    if not hooks.exists():
        pytest.skip(".pre-commit-hooks.yaml is not there yet")
    assert re.search(r"^- id: lsimport-validate$", hooks.read_text(), re.MULTILINE)


def _pre_commit() -> Path:
    tool = lsimport_bin() / "pre-commit"
    if not tool.exists():
        pytest.skip("pre-commit is not installed (the dev extra has it)")
    return tool


def test_the_pre_commit_snippet_is_a_valid_config(tmp_path: Path) -> None:
    snippet = re.search(r"```yaml\n(repos:.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert snippet is not None
    (tmp_path / "config.yaml").write_text(snippet.group(1))
    done = subprocess.run(
        [str(_pre_commit()), "validate-config", "config.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_projects_own_pre_commit_config_runs_the_venvs_ruff_and_mypy() -> None:
    config = REPO / ".pre-commit-config.yaml"
    done = subprocess.run(
        [str(_pre_commit()), "validate-config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entries = re.findall(r"^\s+entry: (\S+)", config.read_text(), re.MULTILINE)
    assert entries == [".venv/bin/ruff", ".venv/bin/ruff", ".venv/bin/mypy"]
    for entry in entries:  # the tools of the venv these tests run in, as in .venv
        assert (lsimport_bin() / Path(entry).name).exists(), entry


# --------------------------------------------------------------------------- the machinery


def test_output_matching_rules() -> None:
    assert output_matches(["a", "b"], "a\nb\n")
    assert not output_matches(["a", "b"], "a\nb\nc\n")
    assert not output_matches(["a"], "a\nb\n")
    assert output_matches(["a", "...", "c"], "a\nx\ny\nc\n")
    assert output_matches(["a", "...", "c"], "a\nc\n")
    assert output_matches(["took ... s"], "took 0.3 s\n")
    assert not output_matches(["took ... s"], "took 0.3 ms\n")
    assert output_matches([], "")
    assert not output_matches([], "something\n")


def test_parser_reads_commands_continuations_and_markers() -> None:
    text = (
        "intro\n\n<!-- test: offline exit=0,1 -->\n```console\n$ echo a \\\n  b\na b\n"
        "$ false\n```\n\n```python\nprint()\n```\n"
    )
    [block] = parse_readme(text)
    assert (block.kind, block.line, block.exits()) == ("offline", 4, [0, 1])
    assert [(c.text, c.expected) for c in block.commands] == [
        ("echo a \\\n  b", ["a b"]),
        ("false", []),
    ]
    with pytest.raises(AssertionError, match="without a `<!-- test"):
        parse_readme("```console\n$ ls\n```\n")
