"""The repository's own `.pre-commit-hooks.yaml`, run by the real pre-commit tool.

`pre-commit try-repo` clones this repository at a commit and pip-installs it into a fresh
environment, exactly as users' pre-commit does from GitHub; so this tests the committed
state (HEAD), not the working tree. The clone is local (no remote is contacted), but the
package's dependencies come from the package index: the test needs it, and is skipped
when it cannot be reached.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT", "LABEL_STUDIO", "LSIMPORT", "VIRTUAL_ENV"))
    }
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def index_reachable() -> bool:
    host = urlsplit(os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")).hostname
    try:
        socket.create_connection((host or "pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def test_manifest() -> None:
    result = run([PRE_COMMIT, "validate-manifest", ".pre-commit-hooks.yaml"], REPO, clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "lsimport-validate",
        "lsimport validate",
        "python",
    )
    files = re.compile(hook["files"])
    assert [bool(files.search(n)) for n in ("a.json", "b.jsonl", "c.csv", "d/e.tsv")] == [True] * 4
    assert [bool(files.search(n)) for n in ("config.xml", "a.json.bak", "README.md")] == [False] * 3


@pytest.mark.slow
@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed in the venv")
def test_hook_passes_valid_files_and_fails_invalid_ones(tmp_path: Path) -> None:
    if not index_reachable():
        pytest.skip("the package index is unreachable: the hook's environment cannot be built")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    work = tmp_path / "work"
    work.mkdir()
    env = clean_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    assert run(["git", "init", "-q", "."], work, env).returncode == 0
    (work / "good.json").write_text('[{"data": {"text": "fine"}}]\n')
    (work / "tasks.csv").write_text("text\nhello\n")
    (work / "bad.jsonl").write_text('{"text": "fine"}\n[1, 2]\n')
    (work / "notes.txt").write_text("not a task file\n")

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        args: list[str | Path] = [PRE_COMMIT, "try-repo", REPO, "lsimport-validate"]
        return run([*args, "--ref", head, "--verbose", "--files", *files], work, env)

    # the first run builds the hook's environment (pip install from the clone): slow
    failed = try_repo("good.json", "bad.jsonl", "tasks.csv")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert re.search(r"lsimport validate\.+Failed", output), output
    assert (
        "bad.jsonl:2: record 2: error: a task must be a JSON object, got array "
        "[read.not-an-object]" in output
    )
    assert "FAILED: 4 record(s) in 3 file(s): 3 valid, 1 invalid, 0 warning(s)" in output

    passed = try_repo("good.json", "tasks.csv")
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert re.search(r"lsimport validate\.+Passed", output), output

    skipped = try_repo("notes.txt")
    assert skipped.returncode == 0
    assert re.search(r"lsimport validate\.+\(no files to check\)Skipped", skipped.stdout)
