"""The real command line as the integration tests run it: `python -m lsimport ARGS` in a child
process, with the server's URL and a token in its environment, and the checks every run must
pass: no token or secret in what it prints, and no traceback.

Imported by the test modules (`from clirun import Cli, CliRun, run_cli`), like faultproxy.py
and gateway.py; free of lsimport imports, like the rest of the harness. What a module reads out
of a run's JSON summary stays in that module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CliRun:
    status: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The `--output json` document."""
        doc = json.loads(self.stdout)
        assert isinstance(doc, dict), self.stdout
        return doc


def cli_env(
    server: Any,
    cwd: Path | None,
    *,
    token: str | None = None,
    url: str | None = None,
    more: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a run: the server's URL (or `url`), its token (or `token`), and
    `more` (a source server's token for `copy`, say)."""
    env = {
        **os.environ,
        **(more or {}),
        "LABEL_STUDIO_URL": url or server.url,
        "LABEL_STUDIO_API_KEY": token if token is not None else server.api_key,
    }
    if cwd is not None:
        # A journal left to its default goes here, never beside the test data or in ~.
        env["XDG_STATE_HOME"] = str(cwd / "state")
    env.pop("LSIMPORT_DEBUG", None)
    return env


def run_cli(
    server: Any,
    *args: str | Path,
    cwd: Path | None = None,
    token: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes = b"",
    timeout: float = 120,
) -> CliRun:
    """`python -m lsimport ARGS` in `cwd` (its state in cwd/state), to the end.

    `token` replaces the server's own token and `url` its URL (one with a password in it, say);
    `env` is more of the environment. Neither `token`, `secret`, nor the server's personal access
    token and legacy token may show in what the run prints, and its stderr may hold no traceback.
    """
    done = subprocess.run(
        [sys.executable, "-m", "lsimport", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env=cli_env(server, cwd, token=token, url=url, more=env),
        timeout=timeout,
        check=False,
    )
    run = CliRun(done.returncode, done.stdout.decode(), done.stderr.decode())
    for hidden in (server.pat, server.legacy_token, token, secret):
        if hidden:
            assert hidden not in run.stdout, "a token or secret leaked to stdout"
            assert hidden not in run.stderr, "a token or secret leaked to stderr"
    assert "Traceback" not in run.stderr, run.stderr
    return run


@dataclass
class Cli:
    """Runs the real CLI in `cwd` (see run_cli); `prefix` (a subcommand) goes before every
    call's arguments."""

    server: Any
    cwd: Path
    prefix: tuple[str, ...] = ()
    timeout: float = 120

    def __call__(
        self,
        *args: str | Path,
        token: str | None = None,
        url: str | None = None,
        secret: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes = b"",
    ) -> CliRun:
        return run_cli(
            self.server,
            *self.prefix,
            *args,
            cwd=self.cwd,
            token=token,
            url=url,
            secret=secret,
            env=env,
            stdin=stdin,
            timeout=self.timeout,
        )
