"""The production shape of scripts/lsserver.py: Label Studio on PostgreSQL behind gunicorn.

These tests look behind the HTTP API (the cluster's own psql, /proc) to check that the server
really is that shape. They use the session's server when the suite runs on the postgres shape
(scripts/test-postgres); otherwise they start one of their own (about 30-60 s on 2 cores), which
the last test stops.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

TEXT_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""


def _task(text: str) -> dict[str, Any]:
    region = {
        "from_name": "sentiment",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["positive"]},
    }
    return {"data": {"text": text}, "predictions": [{"result": [region], "score": 0.5}]}


@dataclass(frozen=True)
class Owned:
    info: Any
    state: Path


@pytest.fixture(scope="module")
def pg_owned(
    lsserver: ModuleType,
    ls_shape: str,
    ls_state_dir: Path | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Owned | None]:
    """A postgres-shape server of this module's own; None when the session's is one."""
    if ls_shape == "postgres" and ls_state_dir is not None:
        yield None
        return
    state = tmp_path_factory.mktemp("pg-state")
    lsserver.ensure_installed()
    info = lsserver.start(tmp_path_factory.mktemp("pg-data"), shape="postgres", state=state)
    try:
        yield Owned(info, state)
    finally:
        lsserver.stop(info, state=state)


@pytest.fixture(scope="module")
def pg_server(request: pytest.FixtureRequest, pg_owned: Owned | None) -> Any:
    """A running postgres-shape server: the session's, or this module's own."""
    return request.getfixturevalue("ls_server") if pg_owned is None else pg_owned.info


def psql(lsserver: ModuleType, info: Any, sql: str) -> str:
    """Run one SQL statement on the server's own PostgreSQL; its unaligned output."""
    cluster = lsserver.postgres_of(info.data_dir)
    assert cluster is not None
    command = [
        str(cluster.bindir / "psql"), "-X", "--no-password", "-h", "127.0.0.1",
        "-p", str(cluster.port), "-U", cluster.user, "-d", cluster.database, "-tA", "-c", sql,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, "PGPASSWORD": cluster.password},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> list[str]:
    return (Path(f"/proc/{pid}/cmdline").read_bytes().decode()).split("\0")[:-1]


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def _wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if not _gone(pid)]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def test_shape_is_recorded(lsserver: ModuleType, pg_server: Any) -> None:
    cluster = lsserver.postgres_of(pg_server.data_dir)

    assert lsserver.shape_of(pg_server) == "postgres"
    assert cluster is not None
    assert cluster.database == "label_studio"
    assert not (pg_server.data_dir / "label_studio.sqlite3").exists()


def test_label_studio_writes_into_this_postgresql(lsserver: ModuleType, pg_server: Any) -> None:
    title = f"pg shape {secrets.token_hex(4)}"

    project_id = lsserver.create_project(pg_server, title, TEXT_CONFIG)

    assert psql(lsserver, pg_server, f"SELECT title FROM project WHERE id = {project_id}") == title


def test_postgresql_listens_on_loopback_only(lsserver: ModuleType, pg_server: Any) -> None:
    assert psql(lsserver, pg_server, "SHOW listen_addresses") == "127.0.0.1"
    assert psql(lsserver, pg_server, "SELECT current_user") == "lsimport"


def test_gunicorn_serves_core_wsgi_with_three_workers(lsserver: ModuleType, pg_server: Any) -> None:
    command = _cmdline(pg_server.pid)
    workers = _children(pg_server.pid)

    assert Path(command[1]).name == "gunicorn"
    assert command[2] == "core.wsgi:application"
    assert command[command.index("--workers") + 1] == "3"
    assert command[command.index("--bind") + 1] == pg_server.url.removeprefix("http://")
    assert len(workers) == lsserver.DEFAULT_WORKERS == 3
    assert all(_cmdline(pid) == command for pid in workers)


def test_both_token_kinds_work(pg_server: Any) -> None:
    legacy = httpx.get(
        f"{pg_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {pg_server.legacy_token}"},
    )
    refreshed = httpx.post(f"{pg_server.url}/api/token/refresh/", json={"refresh": pg_server.pat})
    bearer = httpx.get(
        f"{pg_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Bearer {refreshed.json()['access']}"},
    )

    assert legacy.status_code == 200, legacy.text
    assert legacy.json()["email"] == pg_server.username == "admin@example.com"
    assert bearer.status_code == 200, bearer.text
    assert bearer.json()["email"] == "admin@example.com"


def test_concurrent_imports_all_land_in_postgresql(lsserver: ModuleType, pg_server: Any) -> None:
    project_id = lsserver.create_project(pg_server, f"pg conc {secrets.token_hex(4)}", TEXT_CONFIG)
    headers = {"Authorization": f"Token {pg_server.legacy_token}"}
    batches = [[_task(f"batch {b} task {i}") for i in range(25)] for b in range(4)]

    def send(batch: list[dict[str, Any]]) -> httpx.Response:
        return httpx.post(
            f"{pg_server.url}/api/projects/{project_id}/import?return_task_ids=true",
            json=batch,
            headers=headers,
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, batches))

    assert [a.status_code for a in answers] == [201, 201, 201, 201], [a.text for a in answers]
    ids = [task_id for a in answers for task_id in a.json()["task_ids"]]
    assert len(set(ids)) == 100
    where = f"WHERE project_id = {project_id}"
    assert psql(lsserver, pg_server, f"SELECT count(*) FROM task {where}") == "100"
    assert psql(lsserver, pg_server, f"SELECT count(*) FROM prediction {where}") == "100"
    texts = psql(lsserver, pg_server, f"SELECT data->>'text' FROM task {where} ORDER BY id")
    assert sorted(texts.splitlines()) == sorted(t["data"]["text"] for b in batches for t in b)


def test_start_refuses_zero_workers(lsserver: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, not 0"):
        lsserver.start(tmp_path, shape="postgres", workers=0, state=tmp_path / "state")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_stop_stops_what_start_started(
    lsserver: ModuleType, pg_owned: Owned | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Last in this file: it stops the module's own server (a start costs 30-60 s), or, when the
    # tests run on the session's server, a new one of its own.
    if pg_owned is not None:
        info, state = pg_owned.info, pg_owned.state
    else:
        state = tmp_path_factory.mktemp("pg-stop-state")
        info = lsserver.start(
            tmp_path_factory.mktemp("pg-stop-data"), shape="postgres", state=state
        )
    data_dir = info.data_dir
    cluster = lsserver.postgres_of(data_dir)
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    gunicorn = [info.pid, *_children(info.pid)]
    assert len(gunicorn) == 4  # the master and its three workers
    assert (state / "server.json").exists()

    assert lsserver.stop(info, state=state) is True

    assert _wait_gone([*gunicorn, postmaster]) == []
    assert not cluster.root.exists()
    assert lsserver.postgres_of(data_dir) is None
    assert not (state / "server.json").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{info.url}/health", timeout=5)
    assert lsserver.stop(info, state=state) is False
