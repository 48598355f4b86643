"""Label Studio's HTTP API as lsimport uses it: bytes and dicts in, parsed answers out.

The client knows HTTP only: it never prints and never imports a console library. What touches
the world (transport, clocks, sleep) is injected, so tests drive the real code through
``httpx.MockTransport`` with a fake clock.

Exactly-once matters more than convenience here: an import is retried automatically only when
the server certainly did not process it. Every other failure of a write surfaces as
``OutcomeUnknown`` (check what arrived, then decide) or ``RequestRejected`` (nothing was saved).
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timezone
from importlib import metadata
from typing import Any, TypeGuard

import httpx
import orjson

from lsimport.errors import (
    AuthError,
    BadResponse,
    LsImportError,
    NotFoundError,
    NoTokenRefresh,
    OutcomeUnknown,
    PayloadTooLarge,
    ReadRefused,
    RequestRejected,
    ServerUnreachable,
    TokenRefreshUnavailable,
    UnexpectedRedirect,
    UsageError,
)
from lsimport.send.answers import iter_json_array
from lsimport.send.auth import LabelStudioAuth, describe_response, safe_url, server_detail
from lsimport.send.timing import RequestTimer

__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "ImportOutcome",
    "LabelStudioClient",
    "RetryPolicy",
    "is_retryable",
    "retry_after",
]

logger = logging.getLogger(__name__)

# An import of many tasks can take minutes on the server before it answers: a long read timeout.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=60.0)

# PATCH is here because lsimport only PATCHes fixed values (a project's model_version).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})

# The request never left this machine, so even a POST can be sent again.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    TokenRefreshUnavailable,  # the token refresh failed before the request itself was sent
)
# The server answered "not now" without doing anything.
REFUSED_STATUSES = frozenset({429, 503})
GATEWAY_STATUSES = frozenset({502, 504})

_RECONCILE_HINT = "check which records arrived before sending them again"


_READ_HINTS = {
    403: "the token's user lacks permission for this project or action",
    429: "the server or a proxy in front of it limits requests; try again later",
}


def _user_agent() -> str:
    try:
        return f"lsimport/{metadata.version('lsimport')}"
    except metadata.PackageNotFoundError:
        return "lsimport"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry what `is_retryable` allows.

    Capped exponential backoff with full jitter; bounded by `attempts` and by `total_time`
    (seconds from the first attempt, waits included). A Retry-After answer is honoured when it
    fits in the time left, else the last error surfaces at once.
    """

    attempts: int = 5
    total_time: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_exp_base: float = 2.0
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (1 for the first retry)."""
        ceiling = min(self.wait_max, self.wait_initial * self.wait_exp_base ** (retry_number - 1))
        return ceiling * self.jitter()


def is_retryable(method: str, failure: httpx.Response | Exception) -> bool:
    """The retry decision, in one place.

    Idempotent methods retry on transport errors, 429, 502, 503 and 504. Any other method (an
    import POST) retries only when the server certainly did not process the request: it was
    never sent (connect errors) or the server refused it (429, 503). A 500, a 502/504 from a
    proxy, a dropped connection or a read timeout after sending never retry a POST: the
    server may have saved the tasks, and sending them again would duplicate them.
    """
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if isinstance(failure, httpx.Response):
        status = failure.status_code
        return status in REFUSED_STATUSES or (idempotent and status in GATEWAY_STATUSES)
    if isinstance(failure, NOT_SENT_ERRORS):
        return True
    return idempotent and isinstance(failure, httpx.TransportError)


def retry_after(response: httpx.Response, now: float) -> float | None:
    """Seconds the server asked to wait (Retry-After as seconds or an HTTP-date), or None.

    `now` (wall-clock seconds) is used only when the answer has no Date header; the Date
    header is preferred because it comes from the same clock as the Retry-After date.
    """
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    server_now = _http_date(response.headers.get("Date", ""))
    return max(0.0, when - (server_now if server_now is not None else now))


def _http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@dataclass(frozen=True)
class ImportOutcome:
    """What the server reported for one accepted import request."""

    task_count: int
    prediction_count: int
    annotation_count: int = 0
    # None when the server did not list them (it lists them when asked and tasks were made)
    task_ids: tuple[int, ...] | None = None
    import_id: int | None = None  # set for an asynchronous (Enterprise) import

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any], import_id: int | None = None) -> ImportOutcome:
        """Parse an import answer; ValueError when it is not one."""
        counts = [answer.get(k, 0) for k in ("task_count", "prediction_count", "annotation_count")]
        if "task_count" not in answer or not all(_is_int(c) or c is None for c in counts):
            raise ValueError("no task counts in the answer")
        ids = answer.get("task_ids")
        if ids is not None and not (isinstance(ids, list) and all(_is_int(i) for i in ids)):
            raise ValueError("task_ids is not a list of integers")
        return cls(
            task_count=counts[0] or 0,
            prediction_count=counts[1] or 0,
            annotation_count=counts[2] or 0,
            task_ids=tuple(ids) if ids is not None else None,
            import_id=import_id,
        )


# Page sizes to fall back on when a gateway times pages out; each divides the one before, so
# the tasks read so far are always a whole number of pages.
_PAGE_STEPS = (1000, 500, 250, 125, 25, 5)


def _smaller_page(size: int, seen: int) -> int | None:
    """The next smaller page size after `size` that `seen` (tasks read) is a multiple of."""
    for step in _PAGE_STEPS:
        if step < size and seen % step == 0:
            return step
    return None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _base_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL as exc:
        raise UsageError(f"not a valid Label Studio URL: {safe_url(url)!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(
            f"the Label Studio URL must start with http:// or https://, got {safe_url(url)!r}",
            hint="for example https://label-studio.example.com or http://localhost:8080",
        )
    return parsed.copy_with(query=None, fragment=None)


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    # httpx deprecates verify=<path>; build the context ourselves.
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"cannot use the CA bundle {verify!r}: {exc}",
            hint="give the path of a PEM file with the certificate authorities to trust",
        ) from exc


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _transport_reason(exc: Exception) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class _BodyDeadline(httpx.SyncByteStream):
    """A response body that raises ReadTimeout once `deadline` (monotonic) has passed."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: float, request: httpx.Request):
        self._stream = stream
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout("the answer did not end in time", request=self._request)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class LabelStudioClient:
    """A thread-safe client for one Label Studio server and one token.

    Share one instance between worker threads; size its pool with `max_connections`.
    Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_connections: int = 8,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        import_poll_timeout: float = 3600.0,
    ) -> None:
        self.base_url = _base_url(url)
        self.display_url = safe_url(str(self.base_url)).rstrip("/")
        self.auth = LabelStudioAuth(api_key, self.base_url, clock=clock, wall_clock=wall_clock)
        self.retry = retry if retry is not None else RetryPolicy()
        self.import_poll_timeout = import_poll_timeout
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        # The `Server` header of the last answer: tells Django's single-process dev server
        # ("WSGIServer/0.2 CPython/...") from a production deployment (gunicorn, nginx...).
        self.server_software: str | None = None
        # Answers that said "slow down" (429, 503), for callers that adapt their concurrency.
        self.throttled = 0
        self._throttled_lock = threading.Lock()
        # How long requests waited for their answers (the "timing" of an upload's summary).
        self.timer = RequestTimer(clock)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=self.auth,
            transport=transport,
            verify=_ssl_context(verify),
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            # Never let httpx follow a redirect: it would carry nothing to a new host today,
            # but a manual, same-origin-only rule is easier to trust (see `_send`).
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": _user_agent()},
            event_hooks={"response": [self._bound_body]},
        )
        self._body_time = httpx.Timeout(timeout).read

    def __repr__(self) -> str:
        return f"LabelStudioClient(url={self.display_url!r}, token_kind={self.auth.kind!r})"

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _bound_body(self, response: httpx.Response) -> None:
        """Give an answer's body one read timeout, counted from its headers, to arrive whole.

        httpx's timeouts are per socket read: a server or proxy that sends a byte now and
        then would keep lsimport waiting, and buffering, forever.
        """
        if self._body_time is not None and isinstance(response.stream, httpx.SyncByteStream):
            deadline = time.monotonic() + self._body_time
            response.stream = _BodyDeadline(response.stream, deadline, response.request)

    # --- endpoints ---

    def server_release(self) -> str | None:
        """The server's Label Studio release ("1.13.1"), from GET /api/version, which every
        release answers without a token; None when the answer does not say (not Label Studio,
        a proxy in the way). Asked only to explain a failure: it costs no request otherwise."""
        try:
            response = self._http.get("/api/version", auth=None)
            release = orjson.loads(response.content).get("release") if response.is_success else None
        except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError):
            return None
        return release if isinstance(release, str) and release else None

    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to (also the cheapest check that the token works)."""
        return self._json_object(self._request("GET", "/api/current-user/whoami"))

    def get_project(self, pid: int) -> dict[str, Any]:
        """A project, with its `label_config`, `task_number` and `model_version`."""
        path = f"/api/projects/{pid}/"
        return self._json_object(self._request("GET", path, not_found=self._no_project(pid)))

    def create_project(self, title: str, label_config: str) -> dict[str, Any]:
        """Create a project (title of 3 to 50 characters) and return it."""
        body = orjson.dumps({"title": title, "label_config": label_config})
        return self._json_object(self._request("POST", "/api/projects/", body=body))

    def update_project(self, pid: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH some fields of a project (e.g. `model_version`) and return the project."""
        path = f"/api/projects/{pid}/"
        response = self._request(
            "PATCH", path, body=orjson.dumps(dict(fields)), not_found=self._no_project(pid)
        )
        return self._json_object(response)

    def import_tasks(self, pid: int, body: bytes) -> ImportOutcome:
        """Import an already-serialised JSON array of tasks; return the server's counts and ids.

        An asynchronous (Enterprise) import answering ``{"import": id}`` is polled until it
        completes or fails. Raises RequestRejected (nothing saved), OutcomeUnknown (maybe
        saved: reconcile before sending again), or a ServerError.
        """
        path = f"/api/projects/{pid}/import"
        response = self._request(
            "POST",
            path,
            params={"return_task_ids": "true"},
            body=body,
            not_found=self._no_project(pid),
        )
        answer = self._json_object(response)
        import_id = answer.get("import")
        if _is_int(import_id) and "task_count" not in answer:
            return self._wait_for_import(pid, import_id)
        try:
            return ImportOutcome.from_answer(answer)
        except ValueError as exc:
            raise self._unknown_answer(response, str(exc)) from exc

    def import_predictions(self, pid: int, body: bytes) -> int:
        """Import a JSON array of predictions for existing tasks; return how many were created.

        The server silently skips predictions it refuses, so compare with what was sent.
        """
        path = f"/api/projects/{pid}/import/predictions"
        response = self._request("POST", path, body=body, not_found=self._no_project(pid))
        created = self._json_object(response).get("created")
        if not _is_int(created):
            raise self._unknown_answer(response, "no 'created' count in the answer")
        return created

    def create_prediction(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create one prediction (`task`, `result`, `score`, `model_version`); return it."""
        body = orjson.dumps(dict(payload))
        return self._json_object(self._request("POST", "/api/predictions/", body=body))

    def list_predictions(
        self, *, project: int | None = None, task: int | None = None
    ) -> list[dict[str, Any]]:
        """The predictions of a project or of one task, in one answer (the server does not
        page this list; it is still much cheaper than reading them through /api/tasks)."""
        params = {k: v for k, v in (("project", project), ("task", task)) if v is not None}
        if not params:
            raise ValueError("list_predictions needs a project or a task")
        response = self._request("GET", "/api/predictions/", params=params)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise self._unknown_answer(response, "not JSON") from exc
        if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
            raise self._unknown_answer(response, "not a list of predictions")
        return data

    def iter_predictions(
        self, *, project: int | None = None, task: int | None = None, retry_gateway: bool = True
    ) -> Iterator[dict[str, Any]]:
        """The predictions of a project or of one task, parsed one by one as they arrive.

        The server does not page this list (a million predictions are one answer of some
        400 MB); streaming it keeps lsimport's memory at one prediction at a time.
        `retry_gateway=False`: a 502/504 is raised at once (the caller reads less instead).
        """
        params = {k: v for k, v in (("project", project), ("task", task)) if v is not None}
        if not params:
            raise ValueError("iter_predictions needs a project or a task")
        response = self._request(
            "GET", "/api/predictions/", params=params, stream=True, retry_gateway=retry_gateway
        )
        try:
            for item in iter_json_array(response.iter_bytes()):
                if not isinstance(item, dict):
                    raise ValueError("an element is not an object")
                yield item
        except ValueError as exc:
            raise self._unknown_answer(response, f"not a list of predictions ({exc})") from exc
        except httpx.TransportError as exc:
            reason = self.auth.redact(_transport_reason(exc))
            raise ServerUnreachable(
                f"the list of predictions from {self.display_url} was cut short: {reason}",
                hint="the server or the network is down or too slow; try again later",
            ) from exc
        finally:
            response.close()

    def delete_task(self, task: int) -> bool:
        """Delete one task (and its predictions); False when it was not there."""
        try:
            self._request("DELETE", f"/api/tasks/{task}/", not_found=f"task {task} not found")
        except NotFoundError:
            return False
        return True

    def count_tasks(
        self, pid: int, *, query: Mapping[str, Any] | None = None
    ) -> tuple[int, int | None]:
        """(tasks, their predictions) of a project, or of the tasks a data manager `query`
        selects: one small read, whatever the project's size."""
        params: dict[str, str | int] = {"project": pid, "page": 1, "page_size": 1}
        params["include"] = "id"
        if query is not None:
            params["query"] = orjson.dumps(dict(query)).decode()
        try:
            response = self._request(
                "GET", "/api/tasks/", params=params, not_found=self._no_project(pid)
            )
        except NotFoundError:
            return 0, 0  # page 1 of nothing: "Invalid page."
        answer = self._json_object(response)
        total, predictions = answer.get("total"), answer.get("total_predictions")
        if not _is_int(total):
            raise BadResponse(
                f"GET /api/tasks/ answered without a total ({self._describe(response)})"
            )
        return total, predictions if _is_int(predictions) else None

    def iter_tasks(
        self,
        pid: int,
        *,
        page_size: int = 1000,
        fields: str | None = "all",
        include: str | Sequence[str] | None = None,
        resolve_uri: bool = False,
        query: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every task of a project, page by page.

        `fields="all"` adds predictions and annotations; `fields=None` leaves them out, and is
        much cheaper for the server. `include` keeps only the named task fields (the server's
        sparse-fields parameter), e.g. ``include=("id", "meta", "data")`` to match keys of
        100k tasks in a fraction of the bytes. `resolve_uri=False` returns `data` as stored,
        not with cloud-storage URLs rewritten into proxy links.
        """
        page = 1
        seen = 0
        while True:
            params: dict[str, str | int] = {"project": pid, "page": page, "page_size": page_size}
            if fields:
                params["fields"] = fields
            if include:
                params["include"] = include if isinstance(include, str) else ",".join(include)
            params["resolve_uri"] = "true" if resolve_uri else "false"
            if query is not None:
                # Data manager filters/ordering, e.g. tasks above an id (reconciliation).
                params["query"] = orjson.dumps(dict(query)).decode()
            smaller = _smaller_page(page_size, seen)
            try:
                response = self._request(
                    "GET",
                    "/api/tasks/",
                    params=params,
                    not_found=self._no_project(pid),
                    retry_gateway=smaller is None,
                )
            except NotFoundError:
                if page == 1:
                    raise
                return  # past the last page the server answers 404 "Invalid page."
            except BadResponse as exc:
                if exc.status not in GATEWAY_STATUSES or smaller is None:
                    raise
                # A gateway gave up on this page (a slow database, a server busy saving):
                # ask for smaller pages from here on.
                logger.info("GET /api/tasks/: HTTP %s, pages of %d from now", exc.status, smaller)
                page_size, page = smaller, seen // smaller + 1
                continue
            answer = self._json_object(response)
            tasks = answer.get("tasks")
            if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
                raise BadResponse(
                    f"GET /api/tasks/ answered without a list of tasks "
                    f"({self._describe(response)})",
                )
            yield from tasks
            seen += len(tasks)
            total = answer.get("total")
            if not tasks:
                return
            if _is_int(total):
                # Trust `total` over the page length: a server that caps page_size
                # (TASK_API_PAGE_SIZE_MAX) answers short pages that are not the last.
                if seen >= total:
                    return
            elif len(tasks) < page_size:
                return
            page += 1

    # --- users and deleting predictions (migrations, `predictions --replace`) ---

    def list_users(self) -> list[dict[str, Any]]:
        """The users of the token's organization (`id`, `email`, ...), in one answer."""
        response = self._request("GET", "/api/users/")
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise self._unknown_answer(response, "not JSON") from exc
        if not isinstance(data, list) or not all(isinstance(u, dict) for u in data):
            raise self._unknown_answer(response, "not a list of users")
        return data

    def iter_projects(self, *, title: str | None = None) -> Iterator[dict[str, Any]]:
        """The projects the token's user can see, page by page (`title`: the server's filter,
        which may match more than that exact title)."""
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page, "page_size": 100}
            if title is not None:
                params["title"] = title
            try:
                response = self._request("GET", "/api/projects/", params=params, not_found="end")
            except NotFoundError:
                return
            answer = self._json_object(response)
            results = answer.get("results")
            if not isinstance(results, list):
                raise self._unknown_answer(response, "no list of projects")
            yield from (r for r in results if isinstance(r, dict))
            if not answer.get("next") or not results:
                return
            page += 1

    def delete_prediction(self, prediction_id: int) -> None:
        """Delete one prediction; one that is already gone counts as deleted."""
        try:
            self._request("DELETE", f"/api/predictions/{prediction_id}/", not_found="gone")
        except NotFoundError:
            return

    # --- polling an asynchronous import ---

    def _wait_for_import(self, pid: int, import_id: int) -> ImportOutcome:
        path = f"/api/projects/{pid}/imports/{import_id}/"
        what = f"import {import_id} into project {pid}"
        started = self._clock()
        delay = 0.5
        while True:
            try:
                response = self._request("GET", path)
                state = self._json_object(response)
            except AuthError:
                raise
            except LsImportError as exc:
                # The import was accepted: whatever happened to it, we no longer know.
                raise OutcomeUnknown(
                    f"{what} was accepted, but its status could not be read: {exc.message}",
                    hint=_RECONCILE_HINT,
                ) from exc
            status = state.get("status")
            if status == "completed":
                try:
                    return ImportOutcome.from_answer(state, import_id)
                except ValueError as exc:
                    raise self._unknown_answer(response, str(exc)) from exc
            if status == "failed":
                # Not RequestRejected: the server's failure path can leave tasks saved.
                error = self.auth.redact(str(state.get("error") or "no error message"))
                raise OutcomeUnknown(
                    f"{what} failed on the server: {error}",
                    hint=_RECONCILE_HINT,
                    detail=error,
                )
            waited = self._clock() - started
            if waited + delay > self.import_poll_timeout:
                raise OutcomeUnknown(
                    f"{what} is still {status!r} after {waited:.0f} s",
                    hint=_RECONCILE_HINT,
                )
            self._sleep(delay)
            delay = min(delay * 2, 10.0)

    # --- sending, retrying, mapping errors ---

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: bytes | None = None,
        not_found: str | None = None,
        stream: bool = False,
        retry_gateway: bool = True,
    ) -> httpx.Response:
        """Send with the retry policy; return a 2xx answer or raise the mapped error.

        `stream`: the 2xx answer's body is not read yet (iterate it, then close it).
        `retry_gateway=False`: a 502/504 is raised at once (the caller asks for less)."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            failure: httpx.Response | Exception
            try:
                response = self._send(method, path, params, body, stream=stream)
                if stream and not response.is_success:
                    response.read()  # an error answer is small: read it to describe it
                    response.close()
            except (httpx.RequestError, TokenRefreshUnavailable) as exc:
                failure = exc
            except NoTokenRefresh as exc:
                named = self._no_personal_access_tokens(exc)
                if named is None:
                    raise
                raise named from exc
            else:
                if response.is_success:
                    return response
                failure = response
                if response.status_code in (429, 503):
                    with self._throttled_lock:
                        self.throttled += 1
            retry = is_retryable(method, failure) and attempt < self.retry.attempts
            if not retry_gateway and isinstance(failure, httpx.Response):
                retry = retry and failure.status_code not in GATEWAY_STATUSES
            wait = self._wait_before_retry(failure, attempt) if retry else 0.0
            if not retry or self._clock() - started + wait > self.retry.total_time:
                error = self._error(method, path, failure, attempt, not_found, body)
                raise error from (failure if isinstance(failure, Exception) else None)
            logger.info(
                "retrying %s %s in %.1f s (attempt %d of %d failed: %s)",
                method,
                path,
                wait,
                attempt,
                self.retry.attempts,
                self._failure_name(failure),
            )
            self._sleep(wait)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: bytes | None,
        *,
        stream: bool = False,
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else None
        request = self._http.build_request(
            method, path, params=params, content=body, headers=headers
        )
        with self.timer.request():
            response = self._http.send(request, stream=stream)
        self.server_software = response.headers.get("Server", self.server_software)
        if not 300 <= response.status_code < 400:
            return response
        location = response.headers.get("Location", "")
        target = request.url.join(location) if location else None
        # Django's APPEND_SLASH answer: same origin, same path plus "/". Follow it once, with the
        # token, and nothing else: a redirect anywhere else must never see the token.
        if (
            target is not None
            and _origin(target) == _origin(request.url)
            and target.path == request.url.path + "/"
        ):
            response.close()
            again = self._http.build_request(method, target, content=body, headers=headers)
            with self.timer.request():
                response = self._http.send(again, stream=stream)
            if not 300 <= response.status_code < 400:
                return response
            location = response.headers.get("Location", "")
        shown = safe_url(location) if location else "nowhere (no Location header)"
        raise UnexpectedRedirect(
            f"{method} {path} was redirected (HTTP {response.status_code}) to {shown}; "
            "lsimport does not follow redirects, so the token was not sent there",
            location=location,
            hint="use the address the server is really served at (https:// if it redirects "
            "there; a different host means a proxy or a login page is in the way)",
        )

    def _wait_before_retry(self, failure: httpx.Response | Exception, attempt: int) -> float:
        if isinstance(failure, httpx.Response):
            asked = retry_after(failure, self._wall_clock())
            if asked is not None:
                return asked
        return self.retry.backoff(attempt)

    @staticmethod
    def _failure_name(failure: httpx.Response | Exception) -> str:
        if isinstance(failure, httpx.Response):
            return f"HTTP {failure.status_code}"
        return type(failure).__name__

    def _error(
        self,
        method: str,
        path: str,
        failure: httpx.Response | Exception,
        attempts: int,
        not_found: str | None,
        body: bytes | None,
    ) -> LsImportError:
        where = f"{method} {path}"
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        idempotent = method.upper() in IDEMPOTENT_METHODS
        if isinstance(failure, TokenRefreshUnavailable):
            return failure
        if isinstance(failure, Exception):
            reason = self.auth.redact(_transport_reason(failure))
            if isinstance(failure, NOT_SENT_ERRORS):
                return ServerUnreachable(
                    f"cannot connect to {self.display_url}: {reason}{tries}",
                    hint=self._connect_hint(reason),
                )
            if idempotent:
                return ServerUnreachable(
                    f"no answer from {self.display_url} to {where}: {reason}{tries}",
                    hint="the server or the network is down or too slow; try again later",
                )
            return OutcomeUnknown(
                f"{where}: the connection failed after the request was sent ({reason}); "
                "the server may or may not have applied it",
                hint=_RECONCILE_HINT,
            )

        response = failure
        status = response.status_code
        summary = self._describe(response)
        detail = self.auth.redact(server_detail(response))
        if status == 401:
            return self.auth.error_for(response)
        if status == 404 and not_found:
            return NotFoundError(not_found, hint="check the project id and the server URL")
        if status == 413:
            size = f" of {len(body):,} bytes" if body is not None else ""
            return PayloadTooLarge(
                f"{where}: the request{size} is too large for the server or a proxy in front "
                f"of it ({summary})",
                hint="send smaller batches (fewer records or fewer bytes per request); "
                "nginx refuses bodies over 1 MB unless client_max_body_size is raised",
                status=status,
                detail=detail,
            )
        if idempotent and status < 500 and status != 404:
            # A read refused: nothing to settle or split, the run cannot learn what it needs.
            return ReadRefused(
                f"{where} was refused: {summary}{tries}",
                status=status,
                hint=_READ_HINTS.get(status),
            )
        if status == 403:
            return RequestRejected(
                f"{where} was refused: {summary}",
                hint="the token's user lacks permission for this project or action",
                status=status,
                detail=detail,
            )
        if status < 500:
            return RequestRejected(
                f"{where} was rejected: {summary}{tries}", status=status, detail=detail
            )
        if idempotent:
            return BadResponse(
                f"{where} failed: {summary}{tries}",
                hint="the server is failing; try again later, and look at its logs",
                status=status,
            )
        if status in REFUSED_STATUSES:
            return RequestRejected(
                f"{where} was refused, nothing was saved: {summary}{tries}",
                hint="the server is overloaded or restarting; try again later",
                status=status,
                detail=detail,
            )
        return OutcomeUnknown(
            f"{where}: {summary}; the server may or may not have applied it",
            hint=_RECONCILE_HINT,
            status=status,
            detail=detail,
        )

    def _no_personal_access_tokens(self, exc: NoTokenRefresh) -> AuthError | None:
        """A PAT on a server that cannot exchange it: the error naming the release, when the
        server says which (1.13 and older have legacy tokens only); None keeps the doubt about
        the URL that `exc` states."""
        release = self.server_release()
        if release is None:
            return None
        return AuthError(
            f"Label Studio {release} at {self.display_url} has no personal access tokens "
            f"(its token refresh endpoint answered HTTP {exc.status})",
            hint="use its legacy token instead (on this release: Account & Settings -> "
            "Access Token)",
        )

    def _connect_hint(self, reason: str) -> str:
        if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate" in reason.lower():
            return (
                "the server's TLS certificate is not trusted here: give the CA bundle that "
                "signed it (a PEM file path), or fix the certificate"
            )
        return "check the URL, that the server is running, and the network or proxy settings"

    def _describe(self, response: httpx.Response) -> str:
        return self.auth.redact(describe_response(response))

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object; an answer that is not one is mapped like a failure."""
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise self._unknown_answer(response, "not JSON") from exc
        if not isinstance(data, dict):
            raise self._unknown_answer(response, "not a JSON object")
        return data

    def _unknown_answer(self, response: httpx.Response, why: str) -> LsImportError:
        request = response.request
        where = f"{request.method} {request.url.path}"
        summary = self._describe(response)
        if request.method in IDEMPOTENT_METHODS:
            return BadResponse(
                f"{where} answered with something other than Label Studio's API ({why}): {summary}",
                hint="check that the URL is Label Studio's own address, not a proxy or a "
                "login page in front of it",
            )
        return OutcomeUnknown(
            f"{where}: the server answered {summary} but the answer is unreadable ({why}); "
            "it may or may not have applied the request",
            hint=_RECONCILE_HINT,
            status=response.status_code,
        )

    def _no_project(self, pid: int) -> str:
        return f"project {pid} does not exist on {self.display_url} (or this user cannot see it)"
