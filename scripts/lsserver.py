#!/usr/bin/env python3
"""Install and run a real Label Studio on loopback, for the tests, the demo and benchmarks.

Stdlib only: this runs with a bare ``python3`` before any project venv exists.

    python3 scripts/lsserver.py start [--port N] [--data-dir D]   # or reuse the one started before
    python3 scripts/lsserver.py start --shape postgres [--workers 3]  # PostgreSQL + gunicorn
    python3 scripts/lsserver.py start --ls-version 1.13.1        # an older release (LS_VERSIONS)
    python3 scripts/lsserver.py install|migrate [--ls-version V] # just install (and migrate)
    python3 scripts/lsserver.py status                           # URL and login
    eval "$(python3 scripts/lsserver.py env)"                    # LABEL_STUDIO_URL, _API_KEY
    python3 scripts/lsserver.py stop

From Python (the integration tests' conftest does this)::

    info = lsserver.start()          # fresh temp data dir, free port; every token kind enabled
    project_id = lsserver.create_project(info, "demo", "<View>...</View>")
    lsserver.stop(info)

Two shapes. ``sqlite`` (the default) is ``label-studio start``: Django's dev server on SQLite.
``postgres`` is what teams run in production: Debian's PostgreSQL (installed with apt-get when
missing; a cluster of its own in a temp dir, on its own loopback port, run by the unprivileged
user ``lsimport-pg`` when we are root) and gunicorn serving ``core.wsgi:application`` with N
workers. Its cluster is disposable: ``stop()`` stops PostgreSQL too and deletes the cluster.

Versions. 1.23.2 (``LS_VERSION``) unless ``version=`` / ``--ls-version`` / ``LSIMPORT_LS_VERSION``
names another; each is installed from PyPI into its own venv, ``~/.cache/lsimport/ls-VERSION``.
The token kinds follow the server: 1.13 has legacy tokens only (``ServerInfo.pat`` is empty);
from 1.17 both kinds are made and switched on for the organization.

Environment: ``LSIMPORT_LS_VERSION`` (which release), ``LSIMPORT_LS_VENV`` (where it is
installed, default ``~/.cache/lsimport/ls-VERSION``), ``LSIMPORT_LS_STATE`` (where
``server.json`` and ``env`` of the running server are kept, default ``<repo>/.ls``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import http.cookiejar
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LS_VERSION = "1.23.2"  # the default, and the one the full test suite runs on
# The releases lsimport is tested against (scripts/test-versions runs a subset on the older ones).
LS_VERSIONS = ("1.13.1", "1.17.0", "1.20.0", "1.23.2")
VERSION_ENV = "LSIMPORT_LS_VERSION"
ADMIN_EMAIL = "admin@example.com"
SHAPES = ("sqlite", "postgres")
REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = "server.json"
ENV_FILE = "env"
# Written into every data dir we create, so a server can be restarted on it: Label Studio
# applies --username/--password/--user-token only when it creates the user.
CREDENTIALS_FILE = "lsserver-credentials.json"
LOG_FILE = "label-studio.log"
SQLITE_FILE = "label_studio.sqlite3"
START_TIMEOUT = 180.0
HTTP_TIMEOUT = 30.0
# The postgres shape. Gunicorn is pinned: its command line options change between versions.
DEFAULT_WORKERS = 3
GUNICORN_VERSION = "27.0.1"
# Gunicorn kills a sync worker that is silent this long; its default (30 s) kills the one-shot
# imports of tens of thousands of tasks that the benchmark compares against.
GUNICORN_TIMEOUT = 900
PG_OS_USER = "lsimport-pg"  # PostgreSQL refuses to run as root
PG_SUPERUSER = "lsimport"
PG_DATABASE = "label_studio"
PG_RECORD_FILE = "lsserver-postgres.json"  # in the data dir: where its cluster is, how to log in
PG_TEMPLATE_FILE = "template.json"

# The only variables of ours that reach the server. Label Studio reads settings from
# LABEL_STUDIO_X, HEARTEX_X *and plain X* (HOST, PORT, DEBUG, USERNAME, DATABASE_NAME, ...), so an
# inherited environment could silently reconfigure it; start from a clean slate instead.
_PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
_SERVER_ENV = {
    # No network besides loopback: no PyPI version check, no Sentry, no analytics.
    "LATEST_VERSION_CHECK": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "COLLECT_ANALYTICS": "false",
    "PYTHONUNBUFFERED": "1",
}
# pip on this machine warns about every configured index location that does not exist.
_PIP_NOISE = "is ignored: it is neither a file nor a directory"

Say = Callable[[str], None]


class LsServerError(Exception):
    """Installing, starting, reaching or stopping the server failed; the message says why."""


@dataclass(frozen=True)
class ServerInfo:
    """A running Label Studio and how to log in to it.

    ``pat`` is a personal access token (a JWT refresh token), empty on a release without them
    (1.13); ``legacy_token`` goes in ``Authorization: Token ...``. ``pid`` is 0, and
    ``data_dir``/``log_path`` are None, for a server this module did not start.
    ``first_token_settings`` is what the organization's token switches (/api/jwt/settings) were
    when its data dir first started, before both kinds were turned on; None on a release
    without them (1.13) or a server this module did not start.
    """

    url: str
    pat: str
    legacy_token: str
    username: str
    password: str
    pid: int
    data_dir: Path | None
    log_path: Path | None
    version: str = LS_VERSION
    first_token_settings: dict[str, Any] | None = None

    @property
    def api_key(self) -> str:
        """The token to hand to a client: the PAT where the server has them, else the legacy one."""
        return self.pat or self.legacy_token

    @property
    def authorization(self) -> str:
        """An Authorization header value that works now (a PAT's access token lives 5 min)."""
        if self.pat:
            return f"Bearer {access_token(self.url, self.pat)}"
        return f"Token {self.legacy_token}"

    def to_json(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        for key in ("data_dir", "log_path"):
            raw[key] = None if raw[key] is None else str(raw[key])
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ServerInfo:
        def path(value: Any) -> Path | None:
            return None if value is None else Path(value)

        return cls(
            url=str(raw["url"]),
            pat=str(raw["pat"]),
            legacy_token=str(raw["legacy_token"]),
            username=str(raw["username"]),
            password=str(raw["password"]),
            pid=int(raw["pid"]),
            data_dir=path(raw.get("data_dir")),
            log_path=path(raw.get("log_path")),
            version=str(raw.get("version") or LS_VERSION),
            first_token_settings=raw.get("first_token_settings"),
        )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- locations


def ls_version(version: str | None = None) -> str:
    """The release asked for: `version`, else $LSIMPORT_LS_VERSION, else LS_VERSION (1.23.2)."""
    chosen = (version or os.environ.get(VERSION_ENV) or LS_VERSION).strip()
    parts = chosen.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise LsServerError(f"{chosen!r} is not a Label Studio release (like {LS_VERSION})")
    return chosen


def venv_dir(version: str | None = None) -> Path:
    """Where Label Studio's own venv lives ($LSIMPORT_LS_VENV or ~/.cache/lsimport/ls-VERSION)."""
    configured = os.environ.get("LSIMPORT_LS_VENV")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "lsimport" / f"ls-{ls_version(version)}"


def state_dir() -> Path:
    """Where the running server is recorded ($LSIMPORT_LS_STATE or <repo>/.ls)."""
    configured = os.environ.get("LSIMPORT_LS_STATE")
    return Path(configured).expanduser() if configured else REPO_ROOT / ".ls"


# --------------------------------------------------------------------------- installing


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "label-studio").exists() or not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('label-studio'))"
    done = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_installed(say: Say = _say, version: str | None = None) -> Path:
    """Return the venv holding Label Studio `version` (see ls_version), installing it first if
    needed (about 700 MB: 1-5 min).

    Safe to call from several processes at once: the first installs, the others wait.
    """
    version = ls_version(version)
    venv = venv_dir(version)
    marker = venv / ".lsserver-installed"
    wanted = f"label-studio=={version}\n"
    if marker.exists() and marker.read_text() == wanted:
        return venv
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if marker.exists() and marker.read_text() == wanted:
            return venv
        # A venv someone else completed (without our marker) is fine once it has the right
        # version; a half-finished one is finished by pip, which is idempotent.
        if _installed_version(venv) != version:
            _install(venv, version, say)
            if _installed_version(venv) != version:
                raise LsServerError(f"label-studio=={version} did not install into {venv}")
        marker.write_text(wanted)
    return venv


def _install(venv: Path, version: str, say: Say) -> None:
    if not (venv / "bin" / "python").exists():
        say(f"lsserver: creating a venv for Label Studio at {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    say(f"lsserver: pip install label-studio=={version} (about 700 MB, a few minutes)")
    command = [
        str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
        "--disable-pip-version-check", f"label-studio=={version}",
    ]  # fmt: skip
    shown: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            if _PIP_NOISE in line or not line.strip():
                continue
            shown.append(line.rstrip())
            say(f"  {line.rstrip()}")
    if pip.returncode != 0:
        tail = "\n".join(shown[-5:]) or "(no output)"
        raise LsServerError(
            f"pip install label-studio=={version} failed with status {pip.returncode}:\n{tail}"
        )


# --------------------------------------------------------------------------- HTTP (urllib)


class _Http:
    """Small urllib client: no proxies (loopback only), cookies, and every response closed."""

    def __init__(self, base_url: str, *, cookies: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if cookies:
            handlers.append(urllib.request.HTTPCookieProcessor(self.jar))
        self._opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> tuple[int, bytes]:
        data: bytes | None = None
        all_headers = {"Accept": "application/json", **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=all_headers, method=method
        )
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LsServerError(f"cannot reach {self.base_url}: {reason}") from error

    def json(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        status, body = self.request(method, path, **kwargs)
        if status != expect:
            raise LsServerError(
                f"{method} {path} answered {status}, expected {expect}: {_snippet(body)}"
            )
        return json.loads(body)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def _snippet(body: bytes, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        status, _ = _Http(url).request("GET", "/health", timeout=timeout)
    except LsServerError:
        return False
    return status == 200


def access_token(url: str, pat: str) -> str:
    """Exchange a personal access token for a short-lived (5 min) access token."""
    answer = _Http(url).json("POST", "/api/token/refresh/", json_body={"refresh": pat})
    return str(answer["access"])


def whoami(url: str, authorization: str) -> dict[str, Any]:
    """GET /api/current-user/whoami with the given Authorization header value."""
    answer = _Http(url).json(
        "GET", "/api/current-user/whoami", headers={"Authorization": authorization}
    )
    return dict(answer)


def release(url: str, authorization: str) -> str:
    """The server's Label Studio release, from GET /api/version (e.g. "1.13.1")."""
    answer = _Http(url).json("GET", "/api/version", headers={"Authorization": authorization})
    return str(answer["release"])


def create_project(info: ServerInfo, title: str, label_config: str) -> int:
    """Create a project (title: 3-50 characters) with the PAT (else the legacy token); its id."""
    http = _Http(info.url)
    answer = http.json(
        "POST",
        "/api/projects",
        expect=201,
        json_body={"title": title, "label_config": label_config},
        headers={"Authorization": info.authorization},
    )
    return int(answer["id"])


# --------------------------------------------------------------------------- processes

# Popen objects of the servers this process started: kept so stop() can reap them (and so
# they never get garbage collected while running, which warns).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (its reaper may be slow, or absent in a container).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _is_label_studio(pid: int) -> bool:
    """Whether pid still runs Label Studio: a recorded pid may since belong to someone else."""
    if pid in _CHILDREN:
        return _pid_alive(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask ps
        done = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        cmdline = done.stdout
    return "label-studio" in cmdline or "label_studio" in cmdline


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_tail(log_path: Path, lines: int = 25) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _terminate(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the process group of pid, SIGKILL it if it lingers, reap our own child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(timeout=10)


# --------------------------------------------------------------------------- starting


def _legacy_token_option(venv: Path) -> list[str]:
    """``--enable-legacy-api-token`` where `label-studio start` has it (1.20 on; 1.17 refuses it as
    unknown). Without it a new organization of 1.17 and later has legacy tokens off (measured);
    1.13 has no such switch: legacy tokens are its only kind, always on."""
    option = "--enable-legacy-api-token"
    argparser = _label_studio_package(venv) / "core" / "argparser.py"
    return [option] if option in argparser.read_text() else []


def _server_command(
    shape: str,
    venv: Path,
    data_dir: Path,
    port: int,
    creds: Mapping[str, str],
    workers: int = DEFAULT_WORKERS,
) -> list[str]:
    if shape == "postgres":
        # Label Studio's own Docker image serves core.wsgi the same way (uwsgi there), with the
        # package dir on the path; the user and the database were set up before.
        return [
            str(venv / "bin" / "gunicorn"), "core.wsgi:application",
            "--pythonpath", str(_label_studio_package(venv)),
            "--env", "DJANGO_SETTINGS_MODULE=core.settings.label_studio",
            "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--timeout", str(GUNICORN_TIMEOUT), "--graceful-timeout", "10",
            # Else every gunicorn on the machine shares ~/.gunicorn/gunicorn.ctl.
            "--no-control-socket", "--error-logfile", "-",
        ]  # fmt: skip
    return [
        str(venv / "bin" / "label-studio"), "start", "--no-browser",
        "--data-dir", str(data_dir), "-p", str(port), "--internal-host", "127.0.0.1",
        # `--password=X`, not `--password X`: argparse takes a password that starts with "-"
        # (1 in 64 of token_urlsafe's) for an option and refuses to start.
        "--username", creds["username"], f"--password={creds['password']}",
        "--user-token", creds["legacy_token"], *_legacy_token_option(venv),
    ]  # fmt: skip


def _server_env(shape: str, data_dir: Path) -> dict[str, str]:
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    env.update(_SERVER_ENV)
    env["LABEL_STUDIO_BASE_DATA_DIR"] = str(data_dir)
    if shape == "postgres":
        cluster = postgres_of(data_dir)
        if cluster is None:
            raise LsServerError(f"{data_dir} has no PostgreSQL cluster ({PG_RECORD_FILE})")
        env.update(cluster.django_env())
    return env


def _migrated_template(venv: Path, say: Say) -> Path:
    """A migrated SQLite database without users, made once per install.

    Migrations are most of a fresh start (about 50 s of 60 on 2 cores); a fresh data dir that
    starts from a copy of this is ready in about 10 s, and still gets its own user, tokens and
    secret key, which Label Studio creates at start.
    """
    template = venv / "lsserver-template" / SQLITE_FILE
    if template.exists():
        return template
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if template.exists():
            return template
        say("lsserver: migrating a template database, once per install (about a minute)")
        began = time.monotonic()
        build_dir = Path(tempfile.mkdtemp(prefix="lsimport-ls-template-"))
        try:
            # `label-studio <any command>` applies the migrations first; `version` then exits.
            done = subprocess.run(
                [str(venv / "bin" / "label-studio"), "version", "--data-dir", str(build_dir)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=build_dir,
                env=_server_env("sqlite", build_dir),
                timeout=900,
                check=False,
            )
            built = build_dir / SQLITE_FILE
            if done.returncode != 0 or not built.exists():
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
                raise LsServerError(f"migrating a template database failed:\n{tail}")
            template.parent.mkdir(exist_ok=True)
            partial = template.with_name(f".{SQLITE_FILE}.partial")
            shutil.copyfile(built, partial)
            os.replace(partial, template)
            say(f"lsserver: template database migrated in {time.monotonic() - began:.0f} s")
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
    return template


# --------------------------------------------------------------------------- the postgres shape


@dataclass(frozen=True)
class PostgresCluster:
    """A PostgreSQL cluster made for one data dir (recorded in it), and how to log in to it.

    ``root`` is a temp dir owned by ``os_user`` (None: the current user) holding ``data/``, the
    server log and its socket. The cluster listens on 127.0.0.1:``port`` only.
    """

    bindir: Path
    root: Path
    os_user: str | None
    port: int
    user: str
    password: str
    database: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def django_env(self) -> dict[str, str]:
        """The variables that point Label Studio's settings at this database."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": self.database,
            "POSTGRE_USER": self.user,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": "127.0.0.1",
            "POSTGRE_PORT": str(self.port),
        }

    def to_json(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        raw["bindir"], raw["root"] = str(self.bindir), str(self.root)
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PostgresCluster:
        return cls(
            bindir=Path(raw["bindir"]),
            root=Path(raw["root"]),
            os_user=None if raw.get("os_user") is None else str(raw["os_user"]),
            port=int(raw["port"]),
            user=str(raw["user"]),
            password=str(raw["password"]),
            database=str(raw["database"]),
        )


def postgres_of(data_dir: Path) -> PostgresCluster | None:
    """The PostgreSQL cluster of a postgres-shape data dir; None for the sqlite shape."""
    try:
        return PostgresCluster.from_json(json.loads((data_dir / PG_RECORD_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise LsServerError(f"{data_dir / PG_RECORD_FILE} is damaged ({error})") from None


def shape_of(info: ServerInfo) -> str:
    """The shape: "postgres" when the data dir records a PostgreSQL cluster, else "sqlite"."""
    has_cluster = info.data_dir is not None and postgres_of(info.data_dir) is not None
    return "postgres" if has_cluster else "sqlite"


def _label_studio_package(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages/label_studio/core/wsgi.py"))
    if not found:
        raise LsServerError(f"no label_studio package in {venv}")
    return found[-1].parent.parent


def ensure_postgres_shape_installed(venv: Path, say: Say = _say) -> None:
    """Put gunicorn (pinned) and a PostgreSQL driver into Label Studio's venv, once."""
    marker = venv / f".lsserver-postgres-gunicorn-{GUNICORN_VERSION}"
    if marker.exists():
        return
    python = str(venv / "bin" / "python")
    probe = (
        "import importlib.metadata as m, psycopg\n"
        f"assert m.version('gunicorn') == {GUNICORN_VERSION!r}"
    )
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if marker.exists():
            return
        if subprocess.run([python, "-c", probe], capture_output=True, check=False).returncode:
            say(f"lsserver: pip install gunicorn=={GUNICORN_VERSION} psycopg[binary] into {venv}")
            pip = [
                python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                f"gunicorn=={GUNICORN_VERSION}", "psycopg[binary]",
            ]  # fmt: skip
            done = subprocess.run(
                pip,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                shown = [line for line in done.stdout.splitlines() if _PIP_NOISE not in line]
                tail = "\n".join((shown + done.stderr.splitlines())[-5:])
                raise LsServerError(f"installing gunicorn into {venv} failed:\n{tail}")
        marker.write_text(f"gunicorn=={GUNICORN_VERSION}\n")


def postgres_bindir(say: Say = _say) -> Path:
    """Where initdb, pg_ctl and postgres are; Debian's postgresql is apt-installed if missing.

    ``LSIMPORT_PG_BINDIR`` overrides the search of /usr/lib/postgresql/*/bin.
    """
    configured = os.environ.get("LSIMPORT_PG_BINDIR")
    if configured:
        return Path(configured)

    def newest() -> Path | None:
        found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
        versions = [p for p in found if p.parent.name.isdigit()]
        return max(versions, key=lambda p: int(p.parent.name), default=None)

    bindir = newest()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LsServerError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install Debian's "
            "`postgresql` package, or set LSIMPORT_PG_BINDIR"
        )
    with _file_lock(venv_dir().parent / "postgresql-install.lock"):
        bindir = newest()
        if bindir is None:
            say("lsserver: apt-get install postgresql (about a minute)")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
            ):
                done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
                if done.returncode != 0:
                    tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
                    raise LsServerError(f"{shlex.join(command)} failed:\n{tail}")
            bindir = newest()
    if bindir is None:
        raise LsServerError("apt-get installed postgresql, yet no initdb is to be found")
    return bindir


def _pg_os_user() -> str | None:
    """The unprivileged user PostgreSQL runs as when we are root (created once); else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_OS_USER)
    except KeyError:
        useradd = [
            "useradd", "--system", "--user-group", "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", PG_OS_USER,
        ]  # fmt: skip
        done = subprocess.run(
            useradd,
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            pwd.getpwnam(PG_OS_USER)  # another process may have created it meanwhile
        except KeyError:
            raise LsServerError(f"useradd {PG_OS_USER} failed: {done.stderr.strip()}") from None
    return PG_OS_USER


def _as(os_user: str | None, command: list[str]) -> list[str]:
    return command if os_user is None else ["runuser", "-u", os_user, "--", *command]


def _give(path: Path, os_user: str | None) -> None:
    """chown -R path to os_user (nothing to do when it is ourselves)."""
    if os_user is None:
        return
    entry = pwd.getpwnam(os_user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _cluster_root(os_user: str | None) -> Path:
    """A fresh temp dir for a cluster, in a place its (other) user can reach."""
    parent = Path(tempfile.gettempdir())
    if os_user is not None and any(
        not os.stat(p).st_mode & 0o001 for p in (parent, *parent.parents)
    ):
        parent = Path("/tmp")  # e.g. TMPDIR under /root, which lsimport-pg cannot enter
    root = Path(tempfile.mkdtemp(prefix="lsimport-pg-", dir=parent))
    _give(root, os_user)
    return root


def _run_pg(
    cluster: PostgresCluster, command: list[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        _as(cluster.os_user, command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cluster.root,  # pg_ctl wants a working dir it can enter
        timeout=120,
        check=False,
    )
    if check and done.returncode != 0:
        raise LsServerError(
            f"{Path(command[0]).name} {command[1]} failed ({done.returncode}): "
            f"{(done.stdout + done.stderr).strip()}\nlast lines of {cluster.log_path}:\n"
            f"{_log_tail(cluster.log_path)}"
        )
    return done


def _init_cluster(bindir: Path, os_user: str | None) -> PostgresCluster:
    root = _cluster_root(os_user)
    cluster = PostgresCluster(
        bindir=bindir,
        root=root,
        os_user=os_user,
        port=0,
        user=PG_SUPERUSER,
        password=secrets.token_urlsafe(18),
        database=PG_DATABASE,
    )
    pwfile = root / "pwfile"
    _write_private(pwfile, cluster.password + "\n")
    _give(pwfile, os_user)
    initdb = [
        str(bindir / "initdb"), "--pgdata", str(cluster.data),
        "--username", cluster.user, "--pwfile", str(pwfile),
        "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C",
        # A disposable cluster: skip the fsync of initdb's files (seconds).
        "--no-sync", "--no-instructions",
    ]  # fmt: skip
    try:
        _run_pg(cluster, initdb)
    finally:
        pwfile.unlink()
    return cluster


def _pg_running(cluster: PostgresCluster) -> bool:
    if not cluster.data.is_dir():
        return False
    status = [str(cluster.bindir / "pg_ctl"), "status", "--pgdata", str(cluster.data)]
    return _run_pg(cluster, status, check=False).returncode == 0


def _start_cluster(cluster: PostgresCluster, say: Say) -> PostgresCluster:
    """Start the cluster on a free loopback port (picked again if lost in a race)."""
    for attempt in range(1, 4):
        port = _free_port()
        before = cluster.log_path.stat().st_size if cluster.log_path.exists() else 0
        # No Unix socket in /var/run/postgresql (which may not exist): ours goes in root.
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={shlex.quote(str(cluster.root))}"
        )
        pg_ctl = [
            str(cluster.bindir / "pg_ctl"), "start", "--wait", "--timeout", "60",
            "--pgdata", str(cluster.data), "--log", str(cluster.log_path), "-o", options,
        ]  # fmt: skip
        done = _run_pg(cluster, pg_ctl, check=False)
        if done.returncode == 0:
            say(f"lsserver: PostgreSQL running at 127.0.0.1:{port} (cluster {cluster.root})")
            return dataclasses.replace(cluster, port=port)
        with open(cluster.log_path, "rb") as log:
            log.seek(before)
            news = log.read().decode(errors="replace")
        if "Address already in use" not in news or attempt == 3:
            raise LsServerError(
                f"PostgreSQL did not start ({done.returncode}): {done.stderr.strip()}\n"
                f"last lines of {cluster.log_path}:\n{_log_tail(cluster.log_path)}"
            )
    raise AssertionError("unreachable")


def _stop_cluster(cluster: PostgresCluster) -> None:
    if not _pg_running(cluster):
        return
    pg_ctl = [str(cluster.bindir / "pg_ctl"), "stop", "--pgdata", str(cluster.data), "--wait"]
    if _run_pg(cluster, [*pg_ctl, "--mode", "fast"], check=False).returncode != 0:
        _run_pg(cluster, [*pg_ctl, "--mode", "immediate"])


def _createdb(cluster: PostgresCluster) -> None:
    createdb = [
        str(cluster.bindir / "createdb"), "--host", "127.0.0.1", "--port", str(cluster.port),
        "--username", cluster.user, "--no-password", cluster.database,
    ]  # fmt: skip
    done = subprocess.run(
        createdb,
        env={**os.environ, "PGPASSWORD": cluster.password},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise LsServerError(f"createdb {cluster.database} failed: {done.stderr.strip()}")


def _label_studio_command(
    venv: Path, args: list[str], data_dir: Path, env: Mapping[str, str], what: str
) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "label-studio"), *args, "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=data_dir,
        env=dict(env),
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        raise LsServerError(f"{what} failed:\n{tail}")


def _postgres_template(venv: Path, bindir: Path, os_user: str | None, say: Say) -> Path:
    """A stopped cluster holding Label Studio's migrated database, made once per install.

    Migrations take about 100 s on PostgreSQL on 2 shared cores; a copy of this takes one.
    """
    template = venv / "lsserver-template" / f"postgres-{bindir.parent.name}"
    if (template / PG_TEMPLATE_FILE).exists():
        return template
    with _file_lock(venv.parent / f"{venv.name}.lock"):
        if (template / PG_TEMPLATE_FILE).exists():
            return template
        say("lsserver: migrating a PostgreSQL template cluster, once per install (about 2 min)")
        cluster = _init_cluster(bindir, os_user)
        build_dir = Path(tempfile.mkdtemp(prefix="lsimport-ls-template-"))
        try:
            cluster = _start_cluster(cluster, say)
            _createdb(cluster)
            env = {**_server_env("sqlite", build_dir), **cluster.django_env()}
            # `label-studio <any command>` applies the migrations first; `version` then exits.
            _label_studio_command(
                venv, ["version"], build_dir, env, "migrating a PostgreSQL template database"
            )
            _stop_cluster(cluster)
            partial = template.with_name(f".{template.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(cluster.data, partial / "data", symlinks=True)
            described = {"user": cluster.user, "password": cluster.password}
            _write_private(partial / PG_TEMPLATE_FILE, json.dumps(described) + "\n")
            shutil.rmtree(template, ignore_errors=True)
            os.replace(partial, template)
        finally:
            with contextlib.suppress(LsServerError, OSError, subprocess.SubprocessError):
                _stop_cluster(cluster)
            shutil.rmtree(cluster.root, ignore_errors=True)
            shutil.rmtree(build_dir, ignore_errors=True)
    return template


def _clone_template(template: Path, bindir: Path, os_user: str | None) -> PostgresCluster:
    described = json.loads((template / PG_TEMPLATE_FILE).read_text())
    root = _cluster_root(os_user)
    shutil.copytree(template / "data", root / "data", symlinks=True)
    _give(root, os_user)
    (root / "data").chmod(0o700)  # PostgreSQL insists
    return PostgresCluster(
        bindir=bindir,
        root=root,
        os_user=os_user,
        port=0,
        user=str(described["user"]),
        password=str(described["password"]),
        database=PG_DATABASE,
    )


def _prepare_postgres(venv: Path, data_dir: Path, creds: dict[str, str], say: Say) -> bool:
    """Give data_dir a running PostgreSQL with Label Studio's schema and our admin user.

    Reuses the data dir's cluster when it still exists; True when a new one was made.
    """
    ensure_postgres_shape_installed(venv, say)
    cluster = postgres_of(data_dir)
    created = cluster is None or not cluster.data.is_dir()
    if cluster is not None and not created:
        if not _pg_running(cluster):
            cluster = _start_cluster(cluster, say)
            _write_private(data_dir / PG_RECORD_FILE, json.dumps(cluster.to_json(), indent=2))
        return False
    bindir = postgres_bindir(say)
    os_user = _pg_os_user()
    cluster = _clone_template(_postgres_template(venv, bindir, os_user, say), bindir, os_user)
    try:
        cluster = _start_cluster(cluster, say)
        _write_private(data_dir / PG_RECORD_FILE, json.dumps(cluster.to_json(), indent=2))
        # A new database: a PAT remembered from an earlier one is void, and so is the first
        # look at its organization's token settings.
        creds["pat"] = ""
        creds.pop("first_token_settings", None)
        _write_private(data_dir / CREDENTIALS_FILE, json.dumps(creds, indent=2) + "\n")
        # What `label-studio start --username ...` does on the sqlite shape.
        init = [
            "init", "--username", creds["username"], f"--password={creds['password']}",
            "--user-token", creds["legacy_token"], *_legacy_token_option(venv),
        ]  # fmt: skip
        _label_studio_command(
            venv,
            init,
            data_dir,
            _server_env("postgres", data_dir),
            f"creating the user {creds['username']}",
        )
    except BaseException:
        _stop_postgres(data_dir, cluster=cluster)
        raise
    return True


def _stop_postgres(
    data_dir: Path, *, remove: bool = True, cluster: PostgresCluster | None = None
) -> None:
    """Stop the data dir's PostgreSQL, if it has one; by default delete the cluster as well."""
    cluster = cluster or postgres_of(data_dir)
    if cluster is None:
        return
    _stop_cluster(cluster)
    if remove:
        shutil.rmtree(cluster.root, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (data_dir / PG_RECORD_FILE).unlink()


def _credentials(data_dir: Path) -> dict[str, str]:
    """This data dir's admin credentials: remembered ones, or new ones for a fresh dir."""
    saved = data_dir / CREDENTIALS_FILE
    if saved.exists():
        return dict(json.loads(saved.read_text()))
    if (data_dir / SQLITE_FILE).exists():
        raise LsServerError(
            f"{data_dir} holds a Label Studio database this script did not create, so its "
            "login is unknown: use a fresh --data-dir"
        )
    creds = {
        "username": ADMIN_EMAIL,
        "password": secrets.token_urlsafe(18),
        # Shaped like Label Studio's own keys (40 hex digits).
        "legacy_token": secrets.token_hex(20),
        "pat": "",
    }
    _write_private(saved, json.dumps(creds, indent=2) + "\n")
    return creds


def _write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (these files hold tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    shape: str = "sqlite",
    *,
    workers: int = DEFAULT_WORKERS,
    state: Path | None = None,
    timeout: float = START_TIMEOUT,
    say: Say = _say,
    version: str | None = None,
) -> ServerInfo:
    """Start Label Studio on 127.0.0.1 and return how to reach it, with every token kind it has
    working (legacy tokens only on 1.13; both kinds from 1.17).

    A free port and a fresh temporary data dir are picked when not given. The first start on a
    fresh data dir takes about a minute (migrations). The result is also recorded in
    ``<state>/server.json`` and ``<state>/env`` (state: see ``state_dir()``).

    ``shape="postgres"`` starts PostgreSQL and gunicorn with ``workers`` workers instead (see the
    module docstring); ``workers`` means nothing to the sqlite shape's dev server. ``version``:
    see ``ls_version()``.
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, not {shape!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if port is not None and not 0 < port < 65536:
        raise LsServerError(f"port {port} is not a TCP port (1-65535)")
    state = state or state_dir()
    previous = running(state)
    if previous is not None:
        raise LsServerError(
            f"a server recorded in {state} is still running at {previous.url} "
            f"(pid {previous.pid}): stop it first, or use ensure_running()"
        )
    version = ls_version(version)
    venv = ensure_installed(say, version)
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="lsimport-ls-"))
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = _credentials(data_dir)
    if shape == "sqlite" and not (data_dir / SQLITE_FILE).exists():
        shutil.copyfile(_migrated_template(venv, say), data_dir / SQLITE_FILE)
    new_cluster = False
    if shape == "postgres":
        new_cluster = _prepare_postgres(venv, data_dir, creds, say)

    # Label Studio moves to the next port, silently but for a line in its log, when the one it
    # is given is taken: a port we picked ourselves can be lost in a race, so pick again.
    attempts = 3 if port is None else 1
    try:
        for attempt in range(1, attempts + 1):
            chosen = port if port is not None else _free_port()
            try:
                info = _launch(shape, venv, data_dir, chosen, creds, timeout, say, workers, version)
                break
            except _PortTaken:
                if attempt == attempts:
                    raise LsServerError(f"port {chosen} on 127.0.0.1 is in use") from None
    except BaseException:
        if shape == "postgres":
            _stop_postgres(data_dir, remove=new_cluster)
        raise
    _record(info, state)
    return info


class _PortTaken(LsServerError):
    pass


def _launch(
    shape: str,
    venv: Path,
    data_dir: Path,
    port: int,
    creds: dict[str, str],
    timeout: float,
    say: Say,
    workers: int = DEFAULT_WORKERS,
    version: str = LS_VERSION,
) -> ServerInfo:
    log_path = data_dir / LOG_FILE
    url = f"http://127.0.0.1:{port}"
    command = _server_command(shape, venv, data_dir, port, creds, workers)
    say(f"lsserver: starting Label Studio {version} at {url} (log: {log_path})")
    began = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"\n=== lsserver: {shlex.join(command[:2])} on port {port}\n".encode())
        log.flush()
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            env=_server_env(shape, data_dir),
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
    _CHILDREN[child.pid] = child
    try:
        _wait_healthy(child, url, port, log_path, timeout)
        say(f"lsserver: healthy after {time.monotonic() - began:.0f} s")
        pat = _enable_tokens(url, creds, data_dir)
        info = ServerInfo(
            url=url,
            pat=pat,
            legacy_token=creds["legacy_token"],
            username=creds["username"],
            password=creds["password"],
            pid=child.pid,
            data_dir=data_dir,
            log_path=log_path,
            version=version,
            first_token_settings=json.loads(creds.get("first_token_settings") or "null"),
        )
        verify(info)
    except BaseException:
        _terminate(child.pid)
        raise
    return info


def _wait_healthy(
    child: subprocess.Popen[bytes], url: str, port: int, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    moved = f"Port {port} is in use"
    taken = f"Connection in use: ('127.0.0.1', {port})"  # gunicorn's words
    while True:
        if child.poll() is not None:
            raise LsServerError(
                f"Label Studio exited with status {child.returncode} before answering; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        tail = _log_tail(log_path, 60)
        if moved in tail:
            raise _PortTaken(moved)
        if taken in tail:
            raise _PortTaken(taken)
        if _healthy(url):
            return
        if time.monotonic() > deadline:
            raise LsServerError(
                f"Label Studio did not answer GET {url}/health within {timeout:.0f} s; "
                f"last lines of {log_path}:\n{_log_tail(log_path)}"
            )
        time.sleep(0.5)


def _enable_tokens(url: str, creds: dict[str, str], data_dir: Path) -> str:
    """Log in like a browser; make a PAT (first time only) and enable both token kinds.

    Returns the PAT, or "" from a server without personal access tokens (1.13: no
    /api/jwt/settings, and legacy tokens are the only kind).
    """
    browser = _Http(url, cookies=True)
    status, _ = browser.request("GET", "/user/login/", headers={"Accept": "text/html"})
    csrf = browser.cookie("csrftoken")
    if status != 200 or not csrf:
        raise LsServerError(f"GET {url}/user/login/ answered {status} without a csrftoken cookie")
    login = f"{url}/user/login/"
    status, _ = browser.request(
        "POST",
        "/user/login/",
        form={
            "csrfmiddlewaretoken": csrf,
            "email": creds["username"],
            "password": creds["password"],
        },
        headers={"Referer": login, "Accept": "text/html"},
    )
    if browser.cookie("sessionid") is None:
        raise LsServerError(f"logging in to {login} as {creds['username']} failed ({status})")
    # Django rotates the CSRF token at login.
    session = {"X-CSRFToken": browser.cookie("csrftoken") or csrf, "Referer": login}
    if "first_token_settings" not in creds:  # what a new organization gets, for the tests
        status, body = browser.request("GET", "/api/jwt/settings", headers=session)
        creds["first_token_settings"] = body.decode() if status == 200 else "null"
        _write_private(data_dir / CREDENTIALS_FILE, json.dumps(creds, indent=2) + "\n")
    status, body = browser.request(
        "POST",
        "/api/jwt/settings",
        json_body={"api_tokens_enabled": True, "legacy_api_tokens_enabled": True},
        headers=session,
    )
    if status == 404:
        return ""
    if status != 200:
        raise LsServerError(
            f"POST /api/jwt/settings answered {status}, expected 200: {_snippet(body)}"
        )
    if creds.get("pat"):
        return creds["pat"]  # a restart on the same data dir: one PAT per user is allowed
    answer = browser.json("POST", "/api/token/", expect=201, json_body={}, headers=session)
    creds["pat"] = str(answer["token"])
    _write_private(data_dir / CREDENTIALS_FILE, json.dumps(creds, indent=2) + "\n")
    return creds["pat"]


def verify(info: ServerInfo) -> None:
    """Raise LsServerError unless the PAT (where there is one) and the legacy token pass whoami."""

    def bearer() -> str:
        return f"Bearer {access_token(info.url, info.pat)}"

    def legacy() -> str:
        return f"Token {info.legacy_token}"

    kinds = [("personal access token", bearer)] if info.pat else []
    for kind, authorization in (*kinds, ("legacy token", legacy)):
        try:
            user = whoami(info.url, authorization())
        except LsServerError as error:
            raise LsServerError(f"the {kind} does not work at {info.url}: {error}") from None
        if info.username and user.get("email") != info.username:
            raise LsServerError(f"the {kind} belongs to {user.get('email')}, not {info.username}")


def _record(info: ServerInfo, state: Path) -> None:
    _write_private(state / STATE_FILE, json.dumps(info.to_json(), indent=2) + "\n")
    _write_private(state / ENV_FILE, env_lines(info))


def env_lines(info: ServerInfo) -> str:
    """Shell lines pointing the SDK and lsimport at this server."""
    return (
        f"export LABEL_STUDIO_URL={shlex.quote(info.url)}\n"
        f"export LABEL_STUDIO_API_KEY={shlex.quote(info.api_key)}\n"
    )


# --------------------------------------------------------------------------- reuse, stop


def _recorded(state: Path) -> ServerInfo | None:
    try:
        return ServerInfo.from_json(json.loads((state / STATE_FILE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise LsServerError(f"{state / STATE_FILE} is damaged ({error}): delete it") from None


def running(state: Path | None = None) -> ServerInfo | None:
    """The server recorded in the state dir, if its process lives, answers and takes the PAT."""
    info = _recorded(state or state_dir())
    if info is None or not _is_label_studio(info.pid) or not _healthy(info.url):
        return None
    try:
        whoami(info.url, info.authorization)
    except LsServerError:
        return None
    return info


def ensure_running(
    state: Path | None = None,
    *,
    port: int | None = None,
    data_dir: Path | None = None,
    timeout: float = START_TIMEOUT,
    say: Say = _say,
    shape: str = "sqlite",
    workers: int = DEFAULT_WORKERS,
    version: str | None = None,
) -> ServerInfo:
    """Reuse the server started before (recorded in the state dir), or start a new one."""
    state = state or state_dir()
    version = ls_version(version)
    with _file_lock(state / ".lock"):
        info = running(state)
        if info is not None:
            if shape_of(info) != shape or info.version != version:
                raise LsServerError(
                    f"the server running at {info.url} is Label Studio {info.version} of the "
                    f"{shape_of(info)} shape, not {version} of the {shape} shape: stop it first"
                )
            say(f"lsserver: reusing the server started before at {info.url} (pid {info.pid})")
            return info
        stop(state=state)  # a dead or broken one: clear its record and whatever is left of it
        return start(
            data_dir,
            port,
            shape,
            workers=workers,
            state=state,
            timeout=timeout,
            say=say,
            version=version,
        )


def stop(info: ServerInfo | None = None, *, state: Path | None = None) -> bool:
    """Stop a server (the given one, else the recorded one) and forget it; False if none ran."""
    state = state or state_dir()
    recorded = _recorded(state)
    target = info or recorded
    if target is None:
        return False
    was_running = _is_label_studio(target.pid)
    if was_running:
        _terminate(target.pid)
    if target.data_dir is not None:  # the postgres shape: its PostgreSQL goes too
        _stop_postgres(target.data_dir)
    if recorded is not None and recorded.pid == target.pid:
        for name in (STATE_FILE, ENV_FILE):
            with contextlib.suppress(FileNotFoundError):
                (state / name).unlink()
    return was_running


# --------------------------------------------------------------------------- CLI


def _describe(info: ServerInfo) -> str:
    text = (
        f"Label Studio {info.version} at {info.url} (pid {info.pid})\n"
        f"login:        {info.username} / {info.password}\n"
        f"PAT:          {info.pat or '(this release has no personal access tokens)'}\n"
        f"legacy token: {info.legacy_token}\n"
        f"data dir:     {info.data_dir}\n"
        f"log:          {info.log_path}"
    )
    cluster = None if info.data_dir is None else postgres_of(info.data_dir)
    if cluster is not None:
        text += (
            f"\ndatabase:     PostgreSQL at 127.0.0.1:{cluster.port}, database {cluster.database}, "
            f"user {cluster.user} / {cluster.password}\n"
            f"cluster:      {cluster.data} (log: {cluster.log_path})"
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lsserver.py", description="Run a real Label Studio on loopback."
    )
    parser.add_argument("command", choices=("install", "migrate", "start", "stop", "status", "env"))
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--data-dir", type=Path, help="data dir (default: a fresh temp dir)")
    parser.add_argument(
        "--timeout", type=float, default=START_TIMEOUT, help="seconds to wait for /health"
    )
    parser.add_argument(
        "--shape",
        choices=SHAPES,
        default="sqlite",
        help="sqlite: the dev server (default); postgres: PostgreSQL + gunicorn",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"gunicorn workers of the postgres shape (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--ls-version",
        help=f"Label Studio release (default ${VERSION_ENV} or {LS_VERSION}; tested: "
        f"{', '.join(LS_VERSIONS)})",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    try:
        if args.command == "install":  # Label Studio's venv only; prints where it is
            print(ensure_installed(version=args.ls_version))
        elif args.command == "migrate":  # and the migrated SQLite template a start copies
            print(_migrated_template(ensure_installed(version=args.ls_version), _say))
        elif args.command == "start":
            info = ensure_running(
                port=args.port,
                data_dir=args.data_dir,
                timeout=args.timeout,
                shape=args.shape,
                workers=args.workers,
                version=args.ls_version,
            )
            print(_describe(info))
            print(f'shell:        eval "$(python3 {Path(sys.argv[0]).as_posix()} env)"')
        elif args.command == "stop":
            print("stopped" if stop() else "lsserver: nothing was running")
        else:
            current = running()
            if current is None:
                raise LsServerError(
                    "no Label Studio is running: start one with `python3 scripts/lsserver.py start`"
                )
            if args.command == "status":
                print(_describe(current))
            else:
                sys.stdout.write(env_lines(current))
    except (LsServerError, NotImplementedError, OSError, subprocess.SubprocessError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"lsserver: error: {first}", file=sys.stderr)
        rest = str(error).splitlines()[1:]
        if rest:
            print("\n".join(rest), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
