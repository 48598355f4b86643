"""A real gateway for the tests: Debian's nginx in front of the real Label Studio.

Production Label Studio sits behind nginx or a load balancer whose timeout is often shorter
than a big import. The gateway then gives up first and answers 504 (or 502) while Label Studio
goes on and saves the batch; nothing of it is visible until the server commits. The loopback
fault proxy (faultproxy.py) only models "saved, answered late"; this models "still saving"::

    with Gateway(ls_server.url, timeout=1.0) as gw:          # 504 after 1 s
        ... point lsimport at gw.url ...
        gw.requests("POST", IMPORT_PATH)                     # what nginx logged

    with Gateway(ls_server.url, timeout=1.0, answer=502):    # 502 after 1 s

The 502 variant is two nginx servers in one process: the front one forwards to an inner one
with a long timeout; the inner one forwards to Label Studio with the short timeout and, when
it expires, closes the connection without a word (`return 444`). The front one then answers
502 ("upstream prematurely closed connection"), as a load balancer does when the hop behind
it is cut. Label Studio keeps saving in both cases: the request body was read whole, and a
WSGI worker only notices a closed socket when it writes the answer.

Loopback only, ports of its own, its own config, logs and temp dirs in a temp dir; nginx runs
in the foreground as a child of the test process (no system service, no `daemon`). When the
tests run as root its worker runs as `nobody`. Debian's nginx is installed with apt-get when
missing (root only; about 5 s), otherwise the tests that need it fail with how to install it.

Deliberately free of lsimport imports: the harness must not depend on the code it tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

NGINX = "nginx"
# Tab-separated so that a path with spaces cannot shift the fields.
_LOG_FORMAT = "$request_method\\t$uri\\t$status\\t$request_time\\t$request_length"


class GatewayError(RuntimeError):
    """nginx is missing or would not start."""


def nginx_binary(*, install: bool = True) -> str:
    """The path of nginx; Debian's package is installed with apt-get when missing (root)."""
    found = shutil.which(NGINX) or shutil.which(NGINX, path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if not install or os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise GatewayError(
            "nginx is not installed: `apt-get install -y nginx` (Debian's package; the "
            "gateway tests run it in the foreground with a config of their own)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "nginx"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if command[1] == "install" and done.returncode == 0:
            break
    found = shutil.which(NGINX, path="/usr/sbin:/usr/local/sbin:" + os.environ.get("PATH", ""))
    if not found:
        raise GatewayError(f"apt-get could not install nginx: {done.stderr[-1000:]}")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Logged:
    """One request as nginx logged it (once it was over)."""

    method: str
    path: str
    status: int
    seconds: float
    request_bytes: int


class Gateway:
    """nginx on 127.0.0.1 in front of `upstream`, giving up after `timeout` seconds."""

    def __init__(
        self,
        upstream: str,
        *,
        timeout: float,
        answer: int = 504,
        max_body: str = "0",
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the gateway forwards to http:// on loopback only, not {upstream!r}")
        if answer not in (502, 504):
            raise ValueError("a gateway gives up with 502 or 504")
        self.upstream = f"127.0.0.1:{parsed.port or 80}"
        self.timeout = timeout
        self.answer = answer
        self.max_body = max_body
        self.port = _free_port()
        self._inner_port = _free_port()
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the config ---

    def config(self, root: Path) -> str:
        ms = max(1, round(self.timeout * 1000))
        temp = "\n".join(
            f"    {kind}_temp_path {root / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        proxy = (
            'proxy_http_version 1.1; proxy_set_header Connection ""; '
            "proxy_set_header Host $http_host; proxy_buffering on;"
        )
        if self.answer == 504:
            servers = f"""
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://{self.upstream};
            proxy_read_timeout {ms}ms;
            {proxy}
        }}
    }}"""
        else:
            servers = f"""
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://127.0.0.1:{self._inner_port};
            proxy_read_timeout 600s;
            proxy_next_upstream off;
            {proxy}
        }}
    }}
    server {{
        listen 127.0.0.1:{self._inner_port};
        access_log off;
        location / {{
            proxy_pass http://{self.upstream};
            proxy_read_timeout {ms}ms;
            error_page 504 = @hang_up;
            {proxy}
        }}
        location @hang_up {{
            return 444;
        }}
    }}"""
        return f"""{user}daemon off;
master_process on;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    log_format gateway "{_LOG_FORMAT}";
    access_log {root / "access.log"} gateway;
    client_max_body_size {self.max_body};
    client_body_buffer_size 1m;
{temp}
{servers}
}}
"""

    # --- running ---

    def start(self) -> Gateway:
        binary = nginx_binary()
        root = self._dir = Path(tempfile.mkdtemp(prefix="lsimport-gateway-"))
        if os.geteuid() == 0:
            os.chmod(root, 0o755)  # the worker (nobody) makes its temp dirs in here
        conf = root / "nginx.conf"
        conf.write_text(self.config(root))
        self._proc = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise GatewayError(f"nginx exited at start ({self._proc.returncode}): {err}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise GatewayError(f"nginx did not listen on {self.port}: {self.error_log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self.cleanup()

    # --- what happened ---

    def requests(self, method: str | None = None, path: str | None = None) -> list[Logged]:
        """Requests nginx has finished with, in the order they ended (the access log)."""
        import re

        if self._dir is None:
            return []
        try:
            lines = (self._dir / "access.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            parts = line.split("\t")
            if len(parts) != 5:
                continue
            m, p, status, seconds, length = parts
            if method is not None and m != method:
                continue
            if path is not None and not re.search(path, p):
                continue
            out.append(Logged(m, p, int(status), float(seconds), int(length)))
        return out

    def error_log(self) -> str:
        if self._dir is None:
            return ""
        try:
            return (self._dir / "error.log").read_text()[-3000:]
        except FileNotFoundError:
            return ""
