"""A scripted stand-in for Label Studio on loopback, for the answers a real server never gives.

Only the hostile-answer tests use it (an HTML page where JSON was expected, a redirect to
another host, an answer that never ends, a 413, a 401 in the middle of a run...): everything
else is tested against a real Label Studio in tests/integration. By default it behaves like a
tiny Label Studio with one project: both token kinds, whoami, the project, importing tasks
(kept in memory with ids) and listing them back with the id filter lsimport reconciles with.
`script(method, path, *replies)` overrides the next answers to one endpoint, in order.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROJECT = 1
LEGACY = "0123456789abcdef0123456789abcdef01234567"
CONFIG = '<View><Text name="text" value="$text"/></View>'
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head>"
    b"<body><form>...</form></body></html>"
)
NOT_FOUND_PAGE = b"<!doctype html><html><head><title>Not Found</title></head><body></body></html>"
NGINX_413 = (
    b"<html><head><title>413 Request Entity Too Large</title></head><body><center>"
    b"<h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>"
)


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def make_jwt(**claims: Any) -> str:
    """A JWT-shaped token (unsigned: lsimport reads the claims, the server checks the rest)."""
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.c2ln"


PAT = make_jwt(token_type="refresh", exp=time.time() + 10**8, iat=time.time(), jti="pat")


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> Reply:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

    @classmethod
    def html(cls, status: int, page: bytes) -> Reply:
        return cls(status, page, {"Content-Type": "text/html; charset=utf-8"})


@dataclass
class Stall:
    """Send `head` (maybe nothing, maybe headers and part of a body), then nothing ever again."""

    head: bytes = b""


@dataclass
class Trickle:
    """An answer that never ends: headers, then one byte of body every `every` seconds."""

    every: float = 0.1


Answer = Reply | Stall | Trickle
Script = Answer | Callable[["FakeServer", Seen], Answer]


class FakeServer:
    """A threaded HTTP/1.1 server on `host`, port chosen by the system."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[Seen] = []
        self.tasks: list[dict[str, Any]] = []  # what imports saved, with ids
        self.access_tokens: set[str] = set()  # access tokens currently accepted
        self.refreshes = 0
        self.has_refresh_endpoint = True
        self.label_config = CONFIG
        self._scripts: dict[tuple[str, str], list[Script]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self._httpd = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()  # lets stalled and trickling answers end
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def script(self, method: str, path: str, *answers: Script) -> None:
        """The next answers to `method path`, in order; then the default behaviour again."""
        self._scripts.setdefault((method, path), []).extend(answers)

    def seen(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- the default behaviour: a tiny Label Studio ---

    def answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            queue = self._scripts.get((seen.method, seen.path))
            scripted = queue.pop(0) if queue else None
        if scripted is None:
            return self.default(seen)
        return scripted(self, seen) if callable(scripted) else scripted

    def default(self, seen: Seen) -> Reply:
        if seen.path == "/api/token/refresh/":
            return self._refresh(seen)
        if not self._authorised(seen.headers.get("authorization", "")):
            return Reply.json(401, {"detail": "Authentication credentials were not provided."})
        if seen.method == "GET" and seen.path == "/api/current-user/whoami":
            return Reply.json(200, {"id": 1, "email": "admin@example.com", "username": "admin"})
        if seen.path == f"/api/projects/{PROJECT}/":
            return Reply.json(200, {"id": PROJECT, "title": "p", "label_config": self.label_config})
        if seen.method == "POST" and seen.path == f"/api/projects/{PROJECT}/import":
            return self._import(seen)
        if seen.method == "GET" and seen.path == "/api/tasks/":
            return self._tasks(seen)
        return Reply.html(404, NOT_FOUND_PAGE)

    def _refresh(self, seen: Seen) -> Reply:
        if not self.has_refresh_endpoint:
            return Reply.html(404, NOT_FOUND_PAGE)
        try:
            refresh = json.loads(seen.body).get("refresh")
        except ValueError:
            refresh = None
        if refresh != PAT:
            return Reply.json(401, {"detail": "Token is invalid", "code": "token_not_valid"})
        with self._lock:
            self.refreshes += 1
            now = time.time()
            access = make_jwt(token_type="access", exp=now + 300, iat=now, jti=self.refreshes)
            self.access_tokens.add(access)
        return Reply.json(200, {"access": access})

    def _authorised(self, header: str) -> bool:
        kind, _, token = header.partition(" ")
        return (kind == "Token" and token == LEGACY) or (
            kind == "Bearer" and token in self.access_tokens
        )

    def save(self, body: bytes) -> list[int]:
        """Store an import's tasks as Label Studio would; their new ids."""
        ids = []
        with self._lock:
            for task in json.loads(body):
                tid = next(self._ids)
                self.tasks.append({"id": tid, "data": task["data"], "meta": task.get("meta", {})})
                ids.append(tid)
        return ids

    def _import(self, seen: Seen) -> Reply:
        ids = self.save(seen.body)
        answer = {"task_count": len(ids), "annotation_count": 0, "prediction_count": 0}
        return Reply.json(201, {**answer, "duration": 0.01, "task_ids": ids})

    def _tasks(self, seen: Seen) -> Reply:
        """GET /api/tasks/ with the parts lsimport uses: paging, id > N, id ordering."""
        q = {k: v[-1] for k, v in seen.query.items()}
        query = json.loads(q.get("query", "{}"))
        with self._lock:
            tasks = list(self.tasks)
        for item in query.get("filters", {}).get("items", []):
            if item["filter"] == "filter:tasks:id" and item["operator"] == "greater":
                tasks = [t for t in tasks if t["id"] > item["value"]]
        if "-tasks:id" in query.get("ordering", []):
            tasks.reverse()
        size, page = int(q.get("page_size", 100)), int(q.get("page", 1))
        if page > 1 and (page - 1) * size >= len(tasks):
            return Reply.json(404, {"detail": "Invalid page."})
        chunk = tasks[(page - 1) * size : page * size]
        shown = [{**t, "total_predictions": 0} for t in chunk]
        return Reply.json(200, {"total": len(tasks), "tasks": shown})


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def _any(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            answer = server.answer(seen)
            if isinstance(answer, Reply):
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            elif isinstance(answer, Stall):
                self.wfile.write(answer.head)
                self.wfile.flush()
                server.closing.wait(60)
                self.close_connection = True
            else:
                self._trickle(answer)

        def _trickle(self, answer: Trickle) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.close_connection = True
            for _ in _ticks(server.closing, answer.every):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up: what the test wants

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any

    return Handler


def _ticks(stop: threading.Event, every: float) -> Iterator[None]:
    while not stop.wait(every):
        yield None
