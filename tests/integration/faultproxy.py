"""A loopback HTTP/1.1 proxy that forwards to a real server and injects faults on cue.

The fault-injection tests put it between lsimport and Label Studio::

    with FaultProxy(ls_server.url) as proxy:
        proxy.add(Fault("drop", method="POST", path=IMPORT_PATH, times=2))
        ... point lsimport at proxy.url ...
        assert proxy.pending() == []      # every planned fault happened

A fault matches requests by method and path (a regular expression over the path, without
the query) and applies to the next `times` matching requests, in the order faults were
added. Actions:

- ``forward``: pass the request on untouched (useful to let the first N through).
- ``drop``: forward it, read the server's whole answer, then close the client's socket
  without a byte: the server saved the batch, the client never heard.
- ``drop_unsent``: close the socket without forwarding: the server never saw it.
- ``status``: answer ``status`` (503, 429, 502...) with ``Retry-After`` when given, without
  forwarding, unless ``forward_first`` (then the server did process it: a gateway error
  after the fact).
- ``delay``: forward, then sleep ``delay`` seconds before answering (past the client's
  timeout); the answer is then written if anyone is still listening.

Stdlib only, loopback only. Every request is logged (method, path, action, status).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

Action = Literal["forward", "drop", "drop_unsent", "status", "delay"]

IMPORT_PATH = r"^/api/projects/\d+/import/?$"
TASKS_PATH = r"^/api/tasks/?$"

# Headers that describe one hop, not the message: never passed on.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclass
class Fault:
    """What to do with the next `times` requests matching `method` and `path`."""

    action: Action
    method: str | None = None  # None: any method
    path: str | None = None  # a regular expression over the path; None: any path
    times: int = 1
    status: int = 503
    retry_after: str | None = None
    forward_first: bool = False
    delay: float = 0.0
    used: int = field(default=0, init=False)

    def matches(self, method: str, path: str) -> bool:
        if self.used >= self.times:
            return False
        if self.method is not None and method.upper() != self.method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    """One request the proxy handled, and what it did with it."""

    method: str
    path: str
    action: Action
    status: int | None  # what the client got; None when the socket was closed on it
    forwarded: bool  # whether the server got the request
    at: float  # when the request arrived (time.monotonic)


class FaultProxy:
    """A threaded proxy on 127.0.0.1 in front of `upstream` (an http:// URL on loopback)."""

    def __init__(self, upstream: str, *, upstream_timeout: float = 600.0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"FaultProxy forwards to http:// on loopback only, not {upstream!r}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.log: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- the plan ---

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """Planned faults that have not been used up yet."""
        with self._lock:
            return [f for f in self._faults if f.used < f.times]

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.log
                if (method is None or s.method == method)
                and (path is None or re.search(path, s.path))
            ]

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.used += 1
                    return fault
        return None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.log.append(seen)
            self.log.sort(key=lambda s: s.at)

    # --- running ---

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="faultproxy",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a delayed answer must not hold up shutdown
    block_on_close = False
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return None  # the proxy's own log is FaultProxy.log

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RuntimeError("FaultProxy reads bodies by Content-Length only")
        self._arrived = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self._path = urllib.parse.urlsplit(self.path).path
        fault = proxy._take(self.command, path)
        action: Action = fault.action if fault else "forward"

        if fault is not None and action == "drop_unsent":
            self._log(action, None, False)
            self._hang_up()
            return
        if fault is not None and action == "status" and not fault.forward_first:
            self._answer_fault(fault)
            self._log(action, fault.status, False)
            return

        status, headers, answer = self._forward(body)
        if fault is not None and action == "drop":
            self._log(action, None, True)
            self._hang_up()
            return
        if fault is not None and action == "status":  # forward_first: the server did it
            self._answer_fault(fault)
            self._log(action, fault.status, True)
            return
        if fault is not None and action == "delay":
            time.sleep(fault.delay)
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (timed out) meanwhile
            self._log(action, None, True)
            return
        self._log(action, status, True)

    def _log(self, action: Action, status: int | None, forwarded: bool) -> None:
        seen = Seen(self.command, self._path, action, status, forwarded, self._arrived)
        self.server.proxy._record(seen)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in (*_HOP_BY_HOP, "host")}
        headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            return response.status, response.getheaders(), answer
        finally:
            conn.close()

    def _answer_fault(self, fault: Fault) -> None:
        payload = f'{{"detail": "injected by faultproxy: HTTP {fault.status}"}}'.encode()
        self.send_response(fault.status)
        if fault.retry_after is not None:
            self.send_header("Retry-After", fault.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _hang_up(self) -> None:
        """Close the client's socket with nothing written: no status line, no headers."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
