"""A new user's first ten minutes, for real: the wheel, the README's examples, ./scripts/demo.

- A wheel built from a clean checkout installs into a fresh venv (of each supported Python)
  and works there without the checkout: `--version`, `schema` (shipped inside the package),
  `validate` on the sample data, `python -m lsimport`.
- The README's examples, in README order, on a throwaway copy of sample_data/, run with that
  wheel's lsimport against the real Label Studio of the test session, print what the README
  shows.
- ./scripts/demo, run against the same server, prints what the README shows, and a second run
  imports nothing twice.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PYENV = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "versions"
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")
README_URL = "http://localhost:8080"
# The sample data's summary lines, as validate prints them.
NER_SUMMARY = "FAILED: 9 record(s) in 1 file(s): 7 valid, 2 invalid, 0 warning(s)"


def _load_readme_module() -> ModuleType:
    """tests/acceptance/test_readme.py's helpers (parser, runner), imported by path."""
    path = REPO / "tests" / "acceptance" / "test_readme.py"
    spec = importlib.util.spec_from_file_location("readme_examples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_examples"] = module
    spec.loader.exec_module(module)
    return module


readme = _load_readme_module()


def _run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", 600)
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )


def _run_merged(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run with stdout and stderr in one stream, in the order a terminal would show them."""
    return subprocess.run(
        [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=900,
        **kwargs,
    )


def _quiet_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "PYTEST_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


# --------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a clean checkout holds: the files git tracks or would track (nothing ignored)."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    target = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if source.is_file():  # listed but deleted in the work tree
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def wheel(checkout: Path) -> Path:
    built = _run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", checkout / "dist", checkout],
        cwd=checkout,
        env=_quiet_env(),
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [path] = (checkout / "dist").glob("lsimport-*-py3-none-any.whl")
    return path


def _venv_with_wheel(python: str | Path, where: Path, wheel: Path, extras: str = "") -> Path:
    """A fresh venv holding the wheel (and its dependencies); returns its bin directory."""
    made = _run([python, "-m", "venv", where])
    assert made.returncode == 0, made.stderr
    spec = f"lsimport[{extras}] @ {wheel.as_uri()}" if extras else str(wheel)
    installed = _run(
        [where / "bin" / "python", "-m", "pip", "install", "--quiet", spec], env=_quiet_env()
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return where / "bin"


@pytest.fixture(scope="module")
def wheel_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv (this interpreter) with the wheel installed, with the
    `convert` extra the README's convert examples need (as its Install section says)."""
    return _venv_with_wheel(
        sys.executable, tmp_path_factory.mktemp("wheel-venv") / "v", wheel, extras="convert"
    )


def test_wheel_ships_the_schema_and_the_type_marker(wheel: Path, checkout: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        schema = archive.read("lsimport/schemas/task.schema.json")
    assert {"lsimport/cli.py", "lsimport/py.typed", "lsimport/read/jsonl.py"} <= names
    assert schema == (checkout / "lsimport" / "schemas" / "task.schema.json").read_bytes()
    assert not any(n.startswith(("tests/", "sample_data/", "bench/")) for n in names)


def test_installed_wheel_works_without_the_checkout(
    wheel_bin: Path, checkout: Path, tmp_path: Path
) -> None:
    from lsimport import __version__

    workdir = readme.copy_sample_data(tmp_path / "user")
    env = readme.example_env(wheel_bin, workdir)
    lsimport = wheel_bin / "lsimport"

    version = _run([lsimport, "--version"], cwd=workdir, env=env)
    where = _run(
        [wheel_bin / "python", "-c", "import lsimport; print(lsimport.__file__)"],
        cwd=workdir,
        env=env,
    )
    schema = _run([lsimport, "schema"], cwd=workdir, env=env)
    validated = _run(
        [lsimport, "validate", "sample_data/ner/tasks.jsonl", "-c", "sample_data/ner/config.xml"],
        cwd=workdir,
        env=env,
    )
    module_help = _run([wheel_bin / "python", "-m", "lsimport", "--help"], cwd=workdir, env=env)

    assert (version.returncode, version.stdout) == (0, f"lsimport {__version__}\n")
    assert Path(where.stdout.strip()).is_relative_to(wheel_bin.parent), where.stdout
    assert schema.returncode == 0
    assert schema.stdout == (checkout / "lsimport" / "schemas" / "task.schema.json").read_text()
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert validated.stdout.splitlines()[-1] == NER_SUMMARY
    assert module_help.returncode == 0, module_help.stderr
    assert module_help.stdout.startswith("Usage: python -m lsimport [OPTIONS] COMMAND [ARGS]...")
    for command in ("validate", "upload", "whoami", "schema"):
        assert f"  {command} " in module_help.stdout


def _interpreter(version: str) -> Path | None:
    candidates = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if candidates:
        return candidates[-1]
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


@pytest.mark.slow
@pytest.mark.parametrize("version", SUPPORTED)
def test_wheel_installs_and_validates_on_each_supported_python(
    version: str, wheel: Path, tmp_path: Path
) -> None:
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (pyenv or PATH)")
    bin_dir = _venv_with_wheel(python, tmp_path / "venv", wheel)
    workdir = readme.copy_sample_data(tmp_path / "user")
    env = readme.example_env(bin_dir, workdir)

    reported = _run([bin_dir / "python", "-c", "import sys; print(sys.version_info[:2])"])
    version_out = _run([bin_dir / "lsimport", "--version"], env=env)
    validated = _run(
        [
            *(bin_dir / "lsimport", "validate", "sample_data/ner/tasks.jsonl"),
            *("--label-config", "sample_data/ner/config.xml"),
        ],
        cwd=workdir,
        env=env,
    )

    assert reported.stdout.strip() == str(tuple(int(p) for p in version.split(".")))
    assert version_out.returncode == 0, version_out.stderr
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert validated.stdout.splitlines()[-1] == NER_SUMMARY


# --------------------------------------------------------------------------- the README


class Projects:
    """README project ids -> projects on the test server, made on first use with the labeling
    config of the sample data the command names (a README id must keep to one kind)."""

    def __init__(self, make_project: Callable[..., int]) -> None:
        self.make_project = make_project
        self.ids: dict[int, tuple[int, str]] = {}

    def rewrite(self, command: str) -> str:
        kinds = re.findall(r"sample_data/(\w+)/", command)

        def swap(match: re.Match[str]) -> str:
            readme_id = int(match.group("id"))
            if readme_id not in self.ids:
                assert kinds, f"README project {readme_id} first appears without sample data"
                config = (REPO / "sample_data" / kinds[0] / "config.xml").read_text()
                made = self.make_project(config, title=f"readme project {readme_id}")
                self.ids[readme_id] = (made, kinds[0])
            real, kind = self.ids[readme_id]
            assert not kinds or kinds[0] == kind, (
                f"README project {readme_id} is used for {kind} and for {kinds[0]}"
            )
            return f"{match.group('opt')}{real}"

        return str(readme.PROJECT_OPTION.sub(swap, command))

    def unrewrite(self, output: str) -> str:
        """Output naming a project as the README does: `project 17` -> `project 9`."""
        back = {real: readme_id for readme_id, (real, _) in self.ids.items()}

        def swap(match: re.Match[str]) -> str:
            real = int(match.group(2))
            return f"{match.group(1)}{back.get(real, real)}"

        return re.sub(r"(project |--project |-p )(\d+)\b", swap, output)


def _timings(text: str) -> str:
    text = re.sub(r"\bin \d+(?:\.\d+)? s \([\d,]+/s\b", "in T s (R/s", text)
    text = re.sub(r"\b\d+% of the time waiting for the server", "P% of the time waiting", text)
    return re.sub(r'"duration_s":\s*[\d.]+', '"duration_s":T', text)


def test_readme_examples_with_the_wheel_against_label_studio(
    wheel_bin: Path, ls_server: Any, make_project: Callable[..., int], tmp_path: Path
) -> None:
    """Every tested README block but the demo, in README order, in one user directory."""
    if not ls_server.username:
        pytest.skip("the README's outputs name the admin user of a server the tests started")
    workdir = readme.copy_sample_data(tmp_path / "user")
    projects = Projects(make_project)
    blocks = [b for b in readme.readme_blocks() if b.kind in ("offline", "server")]
    assert len(blocks) >= 12

    def rewrite(command: str) -> str:
        command = command.replace(README_URL, ls_server.url)
        command = re.sub(r"(LABEL_STUDIO_API_KEY=)eyJ\S*", rf"\g<1>{ls_server.pat}", command)
        command = re.sub(
            r"(LABEL_STUDIO_API_KEY=)[0-9a-f]{40}\b", rf"\g<1>{ls_server.legacy_token}", command
        )
        return projects.rewrite(command)

    def normalise(text: str) -> str:
        return projects.unrewrite(_timings(text.replace(ls_server.url, README_URL)))

    for block in blocks:
        env = readme.example_env(wheel_bin, workdir)
        if block.kind == "server":
            env |= {"LABEL_STUDIO_URL": ls_server.url, "LABEL_STUDIO_API_KEY": ls_server.pat}
            readme.run_block(
                block,
                env,
                workdir,
                rewrite=rewrite,
                normalise=normalise,
                normalise_expected=lambda text: _timings(text.replace(ls_server.url, README_URL)),
            )
        else:
            readme.run_block(block, env, workdir, timeout=60)
    assert len(projects.ids) >= 3


# --------------------------------------------------------------------------- the demo


def _normalise_demo(text: str, state: Path) -> str:
    text = text.replace(str(state), ".ls")
    # What the server step says depends on the machine (install, start, reuse); progress bars
    # are drawn on a terminal only.
    text = "\n".join(
        line for line in text.splitlines() if not line.startswith("lsserver: ") and "━" not in line
    )
    text = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", text)
    text = re.sub(r"(project |--project |/projects/)\d+", r"\g<1>N", text)
    text = re.sub(r"password \S+:", "password PASSWORD:", text)
    text = re.sub(r"\bin \d+ s\b", "in T s", _timings(text))
    return text + "\n"


@pytest.fixture
def demo_env(ls_state_dir: Path | None) -> Iterator[dict[str, str]]:
    if ls_state_dir is None:
        pytest.skip("the demo reuses the server the tests started; an external one is not")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "PYTEST_"))}
    env["LSIMPORT_LS_STATE"] = str(ls_state_dir)
    yield env
    shutil.rmtree(ls_state_dir / "demo", ignore_errors=True)


def test_demo_prints_what_the_readme_shows_and_a_rerun_imports_nothing(
    ls_server: Any, ls_state_dir: Path, demo_env: dict[str, str], ls_http: httpx.Client
) -> None:
    [block] = readme.readme_blocks("demo")
    first = _run_merged([REPO / "scripts" / "demo"], cwd=REPO, env=demo_env)
    assert first.returncode == 0, first.stdout

    actual = _normalise_demo(first.stdout, ls_state_dir)
    expected = _normalise_demo("\n".join(block.commands[0].expected), ls_state_dir)
    assert readme.output_matches(expected.splitlines(), actual), (
        f"./scripts/demo printed:\n{first.stdout}\n--- but the README shows:\n"
        + "\n".join(block.commands[0].expected)
    )

    second = _run_merged([REPO / "scripts" / "demo"], cwd=REPO, env=demo_env)
    assert second.returncode == 0, second.stdout
    out = second.stdout
    assert out.count("reusing project ") == 4
    assert "created project" not in out
    summaries = re.findall(r"^(\d+) task\(s\) created .*?(\d+) skipped", out, re.MULTILINE)
    assert summaries == [("0", "8"), ("0", "7"), ("0", "4"), ("0", "4"), ("0", "5")]
    attached = re.findall(r"^(\d+) prediction\(s\) attached .*?(\d+) skipped", out, re.MULTILINE)
    assert attached == [("0", "4")]

    projects = ls_http.get("/api/projects", params={"page_size": 100}).json()["results"]
    counts = {
        p["title"]: p["task_number"] for p in projects if p["title"].startswith("lsimport demo: ")
    }
    assert counts == {
        "lsimport demo: sentiment": 13,
        "lsimport demo: ner": 7,
        "lsimport demo: images": 4,
        "lsimport demo: dialogue": 4,
    }
