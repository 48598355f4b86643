"""LabelStudioClient driven through httpx.MockTransport with a fake clock: retries, errors,
redirects, pagination, asynchronous imports, and the token never showing in an error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from lsimport.errors import (
    AuthError,
    BadResponse,
    LsImportError,
    NotFoundError,
    OutcomeUnknown,
    PayloadTooLarge,
    ReadRefused,
    RequestFailed,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    UnexpectedRedirect,
    UsageError,
)
from lsimport.send.client import (
    ImportOutcome,
    LabelStudioClient,
    RetryPolicy,
    is_retryable,
    retry_after,
)

BASE = "https://ls.example.com"
LEGACY = "0123456789abcdef0123456789abcdef01234567"
WALL = 1_800_000_000.0
IMPORT = "/api/projects/7/import"
TASKS_BODY = orjson.dumps([{"data": {"text": "a"}}, {"data": {"text": "b"}}])
CREATED = {"task_count": 2, "prediction_count": 1, "annotation_count": 0, "task_ids": [11, 12]}

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def make_jwt(**claims: Any) -> str:
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.c2ln"


PAT = make_jwt(token_type="refresh", exp=WALL + 10**8, iat=WALL, jti="pat")
SECRETS = (LEGACY, PAT)


class FakeClock:
    """Monotonic and wall time that move only by sleeping or by hand; records every sleep."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Fake:
    """A scripted server: answers per (method, path) in order, the last one repeating."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []
        self.accesses: list[str] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.path)
        if key == ("POST", "/api/token/refresh/") and key not in self.routes:
            iat = int(self.clock.wall())
            access = make_jwt(token_type="access", iat=iat, exp=iat + 300, n=len(self.accesses))
            self.accesses.append(access)
            return httpx.Response(200, json={"access": access})
        answers = self.routes.get(key)
        if answers is None:
            return json_error(404, "Not found.")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer(request) if callable(answer) else answer

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def json_error(status: int, detail: str, **extra: Any) -> httpx.Response:
    return httpx.Response(status, json={"status_code": status, "detail": detail, **extra})


def raises(kind: type[httpx.RequestError]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise kind("simulated", request=request)

    return answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Fake:
    return Fake(clock)


def make_client(
    fake: Fake, clock: FakeClock, token: str = LEGACY, **kwargs: Any
) -> LabelStudioClient:
    kwargs.setdefault("retry", RetryPolicy(jitter=lambda: 1.0))
    return LabelStudioClient(
        BASE,
        token,
        transport=httpx.MockTransport(fake.handler),
        clock=clock,
        sleep=clock.sleep,
        wall_clock=clock.wall,
        **kwargs,
    )


@pytest.fixture
def client(fake: Fake, clock: FakeClock) -> Iterator[LabelStudioClient]:
    with make_client(fake, clock) as client:
        yield client


@contextmanager
def expect_error(kind: type[LsImportError]) -> Iterator[pytest.ExceptionInfo[Any]]:
    """pytest.raises that also checks no token shows in the error or its causes."""
    with pytest.raises(kind) as info:
        yield info
    assert_secret_free(info.value)


def assert_secret_free(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), str(getattr(seen, "hint", "")), repr(seen.args)):
            for secret in SECRETS:
                assert secret not in text, f"token leaked by {type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__


# --- the predicate and Retry-After ---


def _response(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", BASE))


@pytest.mark.parametrize(
    ("method", "failure", "expected"),
    [
        ("GET", _response(429), True),
        ("GET", _response(502), True),
        ("GET", _response(503), True),
        ("GET", _response(504), True),
        ("GET", _response(500), False),
        ("GET", _response(404), False),
        ("PATCH", _response(502), True),
        ("POST", _response(429), True),
        ("POST", _response(503), True),
        ("POST", _response(500), False),
        ("POST", _response(502), False),
        ("POST", _response(504), False),
        ("POST", _response(400), False),
        ("POST", httpx.ConnectError("refused"), True),
        ("POST", httpx.ConnectTimeout("slow"), True),
        ("POST", httpx.PoolTimeout("busy"), True),
        ("POST", httpx.ReadTimeout("slow"), False),
        ("POST", httpx.RemoteProtocolError("dropped"), False),
        ("POST", httpx.WriteError("dropped"), False),
        ("GET", httpx.ReadTimeout("slow"), True),
        ("GET", httpx.RemoteProtocolError("dropped"), True),
        ("GET", ValueError("a bug"), False),
    ],
)
def test_is_retryable(method: str, failure: httpx.Response | Exception, expected: bool) -> None:
    assert is_retryable(method, failure) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        (
            {
                "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT",
                "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
            },
            30.0,
        ),
        (
            {
                "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT",
                "Date": "Wed, 21 Oct 2015 07:29:00 GMT",
            },
            0.0,
        ),
        ({"Retry-After": "soon"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(httpx.Response(429, headers=headers), now=0.0) == expected


def test_retry_after_date_without_date_header_uses_wall_clock() -> None:
    response = httpx.Response(503, headers={"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"})
    assert retry_after(response, now=90.0) == 10.0


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(wait_initial=1.0, wait_max=5.0, jitter=lambda: 1.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert RetryPolicy(jitter=lambda: 0.25).backoff(3) == 0.5


# --- basic calls ---


def test_whoami_with_legacy_token(client: LabelStudioClient, fake: Fake) -> None:
    fake.on("GET", "/api/current-user/whoami", httpx.Response(200, json={"email": "a@b.c"}))
    assert client.whoami() == {"email": "a@b.c"}
    (request,) = fake.requests
    assert request.headers["Authorization"] == f"Token {LEGACY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("lsimport")


def test_pat_exchanged_then_bearer(fake: Fake, clock: FakeClock) -> None:
    fake.on("GET", "/api/projects/7/", httpx.Response(200, json={"id": 7}))
    with make_client(fake, clock, token=PAT) as client:
        assert client.get_project(7) == {"id": 7}
        clock.now += 250  # access token close to its end: renewed before the next request
        assert client.get_project(7) == {"id": 7}
    paths = [r.url.path for r in fake.requests]
    assert paths == ["/api/token/refresh/", "/api/projects/7/"] * 2
    sent = fake.sent("GET", "/api/projects/7/")
    assert [r.headers["Authorization"] for r in sent] == [f"Bearer {a}" for a in fake.accesses]


def test_401_mid_run_refreshes_once_then_fails(fake: Fake, clock: FakeClock) -> None:
    fake.on(
        "POST",
        IMPORT,
        httpx.Response(201, json=CREATED),
        json_error(401, "Authentication credentials were not provided."),
    )
    with make_client(fake, clock, token=PAT) as client:
        assert client.import_tasks(7, TASKS_BODY).task_count == 2
        with expect_error(AuthError) as info:
            client.import_tasks(7, TASKS_BODY)
    assert "even after renewing" in info.value.message
    # one import that worked, then one refused, renewed, resent once, refused again
    assert len(fake.sent("POST", IMPORT)) == 3
    assert len(fake.sent("POST", "/api/token/refresh/")) == 2


def test_401_mid_run_recovers_after_refresh(fake: Fake, clock: FakeClock) -> None:
    fake.on(
        "POST",
        IMPORT,
        httpx.Response(201, json=CREATED),
        json_error(401, "Authentication credentials were not provided."),
        httpx.Response(201, json=CREATED),
    )
    with make_client(fake, clock, token=PAT) as client:
        client.import_tasks(7, TASKS_BODY)
        assert client.import_tasks(7, TASKS_BODY).task_ids == (11, 12)
    assert len(fake.sent("POST", IMPORT)) == 3


def test_legacy_disabled(fake: Fake, client: LabelStudioClient) -> None:
    fake.on(
        "GET",
        "/api/current-user/whoami",
        json_error(
            401,
            "Authentication token no longer valid: legacy token authentication has been "
            "disabled for this organization",
        ),
    )
    with expect_error(AuthError) as info:
        client.whoami()
    assert info.value.message == (
        "legacy token authentication has been disabled for this organization"
    )
    assert "Personal Access Token" in (info.value.hint or "")
    assert len(fake.requests) == 1  # a 401 is never retried by the retry policy


def _refresh_missing() -> httpx.Response:
    # What Label Studio 1.13.1 answers: its HTML 404 page.
    return httpx.Response(404, html="<html><title>Label Studio</title></html>")


def test_pat_on_a_release_without_pats_names_it_and_sends_nothing(
    fake: Fake, clock: FakeClock
) -> None:
    fake.on("POST", "/api/token/refresh/", _refresh_missing())
    fake.on("GET", "/api/version", httpx.Response(200, json={"release": "1.13.1"}))
    with make_client(fake, clock, token=PAT) as client, expect_error(AuthError) as info:
        client.import_tasks(7, TASKS_BODY)
    assert info.value.message == (
        f"Label Studio 1.13.1 at {BASE} has no personal access tokens "
        "(its token refresh endpoint answered HTTP 404)"
    )
    assert info.value.hint == (
        "use its legacy token instead (on this release: Account & Settings -> Access Token)"
    )
    assert info.value.exit_status == 3
    assert [(r.method, r.url.path) for r in fake.requests] == [
        ("POST", "/api/token/refresh/"),
        ("GET", "/api/version"),
    ]
    # /api/version needs no token, and gets none.
    assert "Authorization" not in fake.requests[1].headers


@pytest.mark.parametrize(
    "version",
    [
        json_error(404, "Not found."),
        httpx.Response(200, html="<html>a login page</html>"),
        httpx.Response(200, json={"release": ""}),
        raises(httpx.ConnectError),
    ],
)
def test_pat_on_a_server_that_does_not_say_its_release_keeps_the_doubt(
    fake: Fake, clock: FakeClock, version: Answer
) -> None:
    fake.on("POST", "/api/token/refresh/", _refresh_missing())
    fake.on("GET", "/api/version", version)
    with make_client(fake, clock, token=PAT) as client, expect_error(AuthError) as info:
        client.whoami()
    assert info.value.message.startswith("this server has no token refresh endpoint")
    assert "or the URL is not Label Studio's" in info.value.message
    assert "use a legacy token" in (info.value.hint or "")
    assert not fake.sent("GET", "/api/current-user/whoami")


def test_get_project_404(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/projects/99/", json_error(404, "No Project matches the given query."))
    with expect_error(NotFoundError) as info:
        client.get_project(99)
    assert "project 99 does not exist on https://ls.example.com" in info.value.message


def test_create_and_update_project(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", "/api/projects/", httpx.Response(201, json={"id": 3, "title": "T"}))
    fake.on("PATCH", "/api/projects/3/", httpx.Response(200, json={"id": 3, "model_version": "m"}))
    assert client.create_project("T", "<View/>")["id"] == 3
    assert client.update_project(3, {"model_version": "m"})["model_version"] == "m"
    create, patch = fake.requests
    assert json.loads(create.content) == {"title": "T", "label_config": "<View/>"}
    assert json.loads(patch.content) == {"model_version": "m"}
    assert patch.headers["Content-Type"] == "application/json"


def test_patch_is_retried_on_502(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("PATCH", "/api/projects/3/", httpx.Response(502), httpx.Response(200, json={"id": 3}))
    assert client.update_project(3, {"model_version": "m"}) == {"id": 3}
    assert len(fake.requests) == 2


def test_import_predictions_and_create_prediction(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", "/api/projects/7/import/predictions", httpx.Response(201, json={"created": 5}))
    fake.on("POST", "/api/predictions/", httpx.Response(201, json={"id": 1, "task": 11}))
    assert client.import_predictions(7, b"[]") == 5
    assert client.create_prediction({"task": 11, "result": []}) == {"id": 1, "task": 11}
    assert json.loads(fake.requests[1].content) == {"task": 11, "result": []}


def test_import_predictions_without_count_is_unknown(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", "/api/projects/7/import/predictions", httpx.Response(201, json={"ok": 1}))
    with expect_error(OutcomeUnknown):
        client.import_predictions(7, b"[]")


# --- imports: what is retried and what is not ---


def test_import_tasks_parses_counts(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={**CREATED, "duration": 0.1}))
    outcome = client.import_tasks(7, TASKS_BODY)
    assert outcome == ImportOutcome(
        task_count=2, prediction_count=1, annotation_count=0, task_ids=(11, 12)
    )
    (request,) = fake.requests
    assert request.url.params["return_task_ids"] == "true"
    assert request.content == TASKS_BODY
    assert request.headers["Content-Type"] == "application/json"


def test_import_500_is_outcome_unknown_and_not_retried(
    fake: Fake, client: LabelStudioClient, clock: FakeClock
) -> None:
    fake.on("POST", IMPORT, json_error(500, "Server error"), httpx.Response(201, json=CREATED))
    with expect_error(OutcomeUnknown) as info:
        client.import_tasks(7, TASKS_BODY)
    assert len(fake.sent("POST", IMPORT)) == 1
    assert clock.sleeps == []
    assert info.value.status == 500
    assert "may or may not" in info.value.message


@pytest.mark.parametrize("status", [502, 504])
def test_import_gateway_errors_are_not_retried(
    fake: Fake, client: LabelStudioClient, status: int
) -> None:
    fake.on("POST", IMPORT, httpx.Response(status), httpx.Response(201, json=CREATED))
    with expect_error(OutcomeUnknown):
        client.import_tasks(7, TASKS_BODY)
    assert len(fake.sent("POST", IMPORT)) == 1


@pytest.mark.parametrize("kind", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
def test_import_dropped_after_sending_is_unknown(
    fake: Fake, client: LabelStudioClient, kind: type[httpx.RequestError]
) -> None:
    fake.on("POST", IMPORT, raises(kind), httpx.Response(201, json=CREATED))
    with expect_error(OutcomeUnknown) as info:
        client.import_tasks(7, TASKS_BODY)
    assert len(fake.sent("POST", IMPORT)) == 1
    assert isinstance(info.value.__cause__, kind)


def test_import_503_is_retried(fake: Fake, client: LabelStudioClient, clock: FakeClock) -> None:
    fake.on("POST", IMPORT, httpx.Response(503), httpx.Response(201, json=CREATED))
    assert client.import_tasks(7, TASKS_BODY).task_count == 2
    assert len(fake.sent("POST", IMPORT)) == 2
    assert clock.sleeps == [0.5]
    assert client.throttled == 1  # the uploader's signal to send fewer batches at once


def test_import_503_exhausted_is_rejected(fake: Fake, clock: FakeClock) -> None:
    fake.on("POST", IMPORT, httpx.Response(503))
    policy = RetryPolicy(attempts=3, jitter=lambda: 1.0)
    with make_client(fake, clock, retry=policy) as client, expect_error(RequestRejected) as info:
        client.import_tasks(7, TASKS_BODY)
    assert len(fake.sent("POST", IMPORT)) == 3
    assert "nothing was saved" in info.value.message
    assert "after 3 attempts" in info.value.message


def test_import_connect_error_is_retried(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, raises(httpx.ConnectError), httpx.Response(201, json=CREATED))
    assert client.import_tasks(7, TASKS_BODY).task_ids == (11, 12)
    assert len(fake.sent("POST", IMPORT)) == 2


def test_import_after_refresh_unavailable_is_sent_once(fake: Fake, clock: FakeClock) -> None:
    access = make_jwt(token_type="access", iat=int(clock.wall()), exp=int(clock.wall()) + 300)
    fake.on(
        "POST",
        "/api/token/refresh/",
        httpx.Response(503),
        httpx.Response(200, json={"access": access}),
    )
    fake.on("POST", IMPORT, httpx.Response(201, json=CREATED))
    with make_client(fake, clock, token=PAT) as client:
        assert client.import_tasks(7, TASKS_BODY).task_count == 2
    assert [r.url.path for r in fake.requests] == ["/api/token/refresh/"] * 2 + [IMPORT]


def test_429_with_retry_after_then_success(
    fake: Fake, client: LabelStudioClient, clock: FakeClock
) -> None:
    fake.on(
        "POST",
        IMPORT,
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(201, json=CREATED),
    )
    assert client.import_tasks(7, TASKS_BODY).task_count == 2
    assert clock.sleeps == [3.0]


def test_429_with_http_date(fake: Fake, client: LabelStudioClient, clock: FakeClock) -> None:
    fake.on(
        "GET",
        "/api/current-user/whoami",
        httpx.Response(
            429,
            headers={
                "Retry-After": "Wed, 21 Oct 2015 07:28:12 GMT",
                "Date": "Wed, 21 Oct 2015 07:28:00 GMT",
            },
        ),
        httpx.Response(200, json={}),
    )
    client.whoami()
    assert clock.sleeps == [12.0]


def test_retry_after_beyond_total_time_gives_up_at_once(
    fake: Fake, client: LabelStudioClient, clock: FakeClock
) -> None:
    fake.on("GET", "/api/current-user/whoami", httpx.Response(429, headers={"Retry-After": "600"}))
    with expect_error(ReadRefused) as info:  # a refused read: the server cannot be used (3)
        client.whoami()
    assert info.value.status == 429
    assert clock.sleeps == []


def test_get_retries_bounded_by_attempts(fake: Fake, clock: FakeClock) -> None:
    fake.on("GET", "/api/projects/7/", httpx.Response(504))
    policy = RetryPolicy(attempts=4, wait_initial=1.0, jitter=lambda: 1.0)
    with make_client(fake, clock, retry=policy) as client, expect_error(BadResponse) as info:
        client.get_project(7)
    assert len(fake.requests) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert "after 4 attempts" in info.value.message


def test_get_retries_bounded_by_total_time(fake: Fake, clock: FakeClock) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 20  # each attempt takes 20 s to fail
        raise httpx.ReadTimeout("slow", request=request)

    fake.on("GET", "/api/projects/7/", slow)
    policy = RetryPolicy(attempts=100, total_time=60, wait_initial=1.0, jitter=lambda: 1.0)
    with make_client(fake, clock, retry=policy) as client, expect_error(ServerUnreachable):
        client.get_project(7)
    assert len(fake.requests) == 3  # 20 + 1 + 20 + 2 + 20 = 63 s: no fourth attempt
    assert clock.now - 500.0 <= 63


def test_get_500_not_retried(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/projects/7/", json_error(500, "boom"))
    with expect_error(BadResponse) as info:
        client.get_project(7)
    assert len(fake.requests) == 1
    assert "HTTP 500 Internal Server Error: boom" in info.value.message


def test_unreachable_server(fake: Fake, clock: FakeClock) -> None:
    fake.on("GET", "/api/current-user/whoami", raises(httpx.ConnectError))
    policy = RetryPolicy(attempts=3, jitter=lambda: 1.0)
    with make_client(fake, clock, retry=policy) as client, expect_error(ServerUnreachable) as info:
        client.whoami()
    assert "cannot connect to https://ls.example.com" in info.value.message
    assert isinstance(info.value, ServerError)
    assert len(fake.requests) == 3


# --- error answers in words ---


def test_413_is_payload_too_large(fake: Fake, client: LabelStudioClient) -> None:
    page = "<html><head><title>413 Request Entity Too Large</title></head></html>"
    fake.on("POST", IMPORT, httpx.Response(413, text=page, headers={"Content-Type": "text/html"}))
    with expect_error(PayloadTooLarge) as info:
        client.import_tasks(7, TASKS_BODY)
    assert isinstance(info.value, RequestRejected)
    assert f"{len(TASKS_BODY)} bytes" in info.value.message
    assert "smaller batches" in (info.value.hint or "")
    assert len(fake.requests) == 1


def test_400_carries_validation_errors(fake: Fake, client: LabelStudioClient) -> None:
    fake.on(
        "POST",
        IMPORT,
        json_error(
            400,
            "Validation error",
            validation_errors={"non_field_errors": ["Error at item 3: Task[data] must be dict"]},
        ),
    )
    with expect_error(RequestRejected) as info:
        client.import_tasks(7, TASKS_BODY)
    assert info.value.status == 400
    assert info.value.detail == "Error at item 3: Task[data] must be dict"
    assert "HTTP 400 Bad Request: Error at item 3" in info.value.message


def test_html_error_page_is_summarised(fake: Fake, client: LabelStudioClient) -> None:
    page = (
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway"
        "</h1></center><hr><center>nginx/1.25.3</center></body></html>" + " " * 5000
    )
    fake.on("POST", IMPORT, httpx.Response(502, text=page, headers={"Content-Type": "text/html"}))
    with expect_error(OutcomeUnknown) as info:
        client.import_tasks(7, TASKS_BODY)
    assert "HTTP 502 Bad Gateway with an HTML page: 502 Bad Gateway" in info.value.message
    assert "<" not in info.value.message


def test_unparsable_201_is_outcome_unknown(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, content=b'{"task_count": 2, "tas'))
    with expect_error(OutcomeUnknown):
        client.import_tasks(7, TASKS_BODY)
    assert len(fake.requests) == 1


def test_201_without_counts_is_outcome_unknown(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={"hello": "proxy"}))
    with expect_error(OutcomeUnknown):
        client.import_tasks(7, TASKS_BODY)


def test_login_page_instead_of_json(fake: Fake, client: LabelStudioClient) -> None:
    page = "<!DOCTYPE html><html><head><title>Sign in</title></head></html>"
    fake.on("GET", "/api/current-user/whoami", httpx.Response(200, text=page))
    with expect_error(BadResponse) as info:
        client.whoami()
    assert "an HTML page: Sign in" in info.value.message


def test_403_is_rejected_with_hint(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, json_error(403, "You do not have permission to perform this action."))
    with expect_error(RequestRejected) as info:
        client.import_tasks(7, TASKS_BODY)
    assert "permission" in (info.value.hint or "")


# --- redirects ---


def test_redirect_to_another_host_is_refused(fake: Fake, clock: FakeClock) -> None:
    fake.on(
        "POST",
        IMPORT,
        httpx.Response(307, headers={"Location": "https://evil.example.org/steal?x=1"}),
    )
    with make_client(fake, clock, token=PAT) as client, expect_error(UnexpectedRedirect) as info:
        client.import_tasks(7, TASKS_BODY)
    assert "https://evil.example.org/steal" in info.value.message
    assert info.value.location == "https://evil.example.org/steal?x=1"
    assert {r.url.host for r in fake.requests} == {"ls.example.com"}
    assert len(fake.sent("POST", IMPORT)) == 1


def test_redirect_to_https_is_refused(fake: Fake, clock: FakeClock) -> None:
    with (
        LabelStudioClient(
            "http://ls.example.com",
            LEGACY,
            transport=httpx.MockTransport(
                lambda r: httpx.Response(301, headers={"Location": "https://ls.example.com/x"})
            ),
            clock=clock,
            sleep=clock.sleep,
        ) as client,
        expect_error(UnexpectedRedirect) as info,
    ):
        client.whoami()
    assert "https://ls.example.com/x" in info.value.message
    assert "https://" in (info.value.hint or "")


def test_same_origin_slash_redirect_followed_once(fake: Fake, client: LabelStudioClient) -> None:
    fake.on(
        "GET",
        "/api/current-user/whoami",
        httpx.Response(301, headers={"Location": "/api/current-user/whoami/"}),
    )
    fake.on("GET", "/api/current-user/whoami/", httpx.Response(200, json={"id": 1}))
    assert client.whoami() == {"id": 1}
    _, second = fake.requests
    assert second.url.path == "/api/current-user/whoami/"
    assert second.headers["Authorization"] == f"Token {LEGACY}"


def test_slash_redirect_to_other_port_is_refused(fake: Fake, client: LabelStudioClient) -> None:
    fake.on(
        "GET",
        "/api/current-user/whoami",
        httpx.Response(
            301, headers={"Location": "https://ls.example.com:8443/api/current-user/whoami/"}
        ),
    )
    with expect_error(UnexpectedRedirect):
        client.whoami()
    assert len(fake.requests) == 1


def test_redirect_loop_is_followed_only_once(fake: Fake, client: LabelStudioClient) -> None:
    fake.on(
        "GET", "/api/projects/7/", httpx.Response(302, headers={"Location": "/api/projects/7//"})
    )
    fake.on(
        "GET", "/api/projects/7//", httpx.Response(302, headers={"Location": "/api/projects/7///"})
    )
    with expect_error(UnexpectedRedirect):
        client.get_project(7)
    assert len(fake.requests) == 2


# --- listing tasks ---


def _page(tasks: list[dict[str, Any]], total: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"tasks": tasks, "total_annotations": 0, "total_predictions": 0}
    if total is not None:
        body["total"] = total
    return httpx.Response(200, json=body)


def _tasks(start: int, count: int) -> list[dict[str, Any]]:
    return [{"id": i, "meta": {"key": f"k{i}"}} for i in range(start, start + count)]


def test_iter_tasks_ends_at_404(fake: Fake, client: LabelStudioClient) -> None:
    pages = {1: _page(_tasks(1, 2)), 2: _page(_tasks(3, 2))}

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return pages.get(page) or json_error(404, "Invalid page.")

    fake.on("GET", "/api/tasks/", answer)
    ids = [t["id"] for t in client.iter_tasks(7, page_size=2)]
    assert ids == [1, 2, 3, 4]
    assert [r.url.params["page"] for r in fake.requests] == ["1", "2", "3"]
    assert fake.requests[0].url.params["project"] == "7"
    assert fake.requests[0].url.params["fields"] == "all"


def test_iter_tasks_stops_at_total(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/tasks/", _page(_tasks(1, 2), 4), _page(_tasks(3, 2), 4))
    assert len(list(client.iter_tasks(7, page_size=2))) == 4
    assert len(fake.requests) == 2  # no third request for a page known to be past the end


def test_iter_tasks_stops_at_short_page_without_total(
    fake: Fake, client: LabelStudioClient
) -> None:
    fake.on("GET", "/api/tasks/", _page(_tasks(1, 3)), _page(_tasks(4, 1)))
    assert len(list(client.iter_tasks(7, page_size=3))) == 4
    assert len(fake.requests) == 2


def test_iter_tasks_survives_a_page_size_cap(fake: Fake, client: LabelStudioClient) -> None:
    # The server caps page_size at 2 (TASK_API_PAGE_SIZE_MAX): short pages that are not the last.
    fake.on(
        "GET", "/api/tasks/", _page(_tasks(1, 2), 5), _page(_tasks(3, 2), 5), _page(_tasks(5, 1), 5)
    )
    assert [t["id"] for t in client.iter_tasks(7, page_size=1000)] == [1, 2, 3, 4, 5]


def test_iter_tasks_cheap_listing_params(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/tasks/", _page([], 0))
    assert list(client.iter_tasks(7, fields=None, include=("id", "meta", "data"))) == []
    params = fake.requests[0].url.params
    assert params["include"] == "id,meta,data"
    assert params["resolve_uri"] == "false"
    assert "fields" not in params


def test_iter_tasks_missing_project(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/tasks/", json_error(404, "No Project matches the given query."))
    with expect_error(NotFoundError):
        list(client.iter_tasks(99))


def test_iter_tasks_retries_a_page(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/tasks/", httpx.Response(503), _page(_tasks(1, 1), 1))
    assert len(list(client.iter_tasks(7))) == 1


def test_iter_tasks_bad_answer(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("GET", "/api/tasks/", httpx.Response(200, json={"tasks": "nope"}))
    with expect_error(BadResponse):
        list(client.iter_tasks(7))


# --- asynchronous (Enterprise) imports ---

POLL = "/api/projects/7/imports/42/"


def test_async_import_is_polled(fake: Fake, client: LabelStudioClient, clock: FakeClock) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={"import": 42}))
    fake.on(
        "GET",
        POLL,
        httpx.Response(200, json={"id": 42, "status": "created"}),
        httpx.Response(200, json={"id": 42, "status": "in_progress"}),
        httpx.Response(200, json={"id": 42, "status": "completed", **CREATED}),
    )
    outcome = client.import_tasks(7, TASKS_BODY)
    assert outcome.task_ids == (11, 12)
    assert outcome.import_id == 42
    assert clock.sleeps == [0.5, 1.0]
    assert len(fake.sent("POST", IMPORT)) == 1


def test_async_import_failed(fake: Fake, client: LabelStudioClient) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={"import": 42}))
    fake.on("GET", POLL, httpx.Response(200, json={"status": "failed", "error": "Bad task 3"}))
    with expect_error(OutcomeUnknown) as info:
        client.import_tasks(7, TASKS_BODY)
    assert "failed on the server: Bad task 3" in info.value.message
    assert info.value.detail == "Bad task 3"


def test_async_import_poll_is_bounded(fake: Fake, clock: FakeClock) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={"import": 42}))
    fake.on("GET", POLL, httpx.Response(200, json={"status": "in_progress"}))
    with (
        make_client(fake, clock, import_poll_timeout=60) as client,
        expect_error(OutcomeUnknown) as info,
    ):
        client.import_tasks(7, TASKS_BODY)
    assert "still 'in_progress'" in info.value.message
    assert sum(clock.sleeps) <= 60
    assert max(clock.sleeps) <= 10.0


def test_async_import_status_unreadable(fake: Fake, clock: FakeClock) -> None:
    fake.on("POST", IMPORT, httpx.Response(201, json={"import": 42}))
    fake.on("GET", POLL, raises(httpx.ConnectError))
    policy = RetryPolicy(attempts=2, jitter=lambda: 1.0)
    with make_client(fake, clock, retry=policy) as client, expect_error(OutcomeUnknown) as info:
        client.import_tasks(7, TASKS_BODY)
    assert "was accepted, but its status could not be read" in info.value.message
    assert isinstance(info.value.__cause__, ServerUnreachable)


# --- construction ---


@pytest.mark.parametrize(
    "url", ["ls.example.com", "ftp://ls.example.com", "http://", "https://[::1", "http://:80/x"]
)
def test_bad_url_is_a_usage_error(url: str) -> None:
    with expect_error(UsageError):
        LabelStudioClient(url, LEGACY)


def test_missing_ca_bundle_is_a_usage_error(tmp_path: Any) -> None:
    with expect_error(UsageError) as info:
        LabelStudioClient(BASE, LEGACY, verify=str(tmp_path / "nope.pem"))
    assert "nope.pem" in info.value.message


def test_context_manager_closes_and_repr_hides_token(fake: Fake, clock: FakeClock) -> None:
    with make_client(fake, clock, token=PAT) as client:
        assert PAT not in repr(client)
        assert repr(client) == "LabelStudioClient(url='https://ls.example.com', token_kind='pat')"
    assert client._http.is_closed


def test_base_path_is_kept(clock: FakeClock) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"id": 1})

    with LabelStudioClient(
        "https://corp.example.com/label-studio/", LEGACY, transport=httpx.MockTransport(handler)
    ) as client:
        client.get_project(1)
    assert seen == ["/label-studio/api/projects/1/"]


# --- the token never shows ---


SCENARIOS: list[tuple[str, Answer]] = [
    ("401", json_error(401, "Invalid token.")),
    ("400", json_error(400, "Validation error", validation_errors={"x": ["bad"]})),
    ("413", httpx.Response(413)),
    ("500", httpx.Response(500, text="Traceback ...")),
    ("503", httpx.Response(503)),
    ("html", httpx.Response(502, text="<title>oops</title>")),
    ("redirect", httpx.Response(302, headers={"Location": "https://other.example/"})),
    ("timeout", raises(httpx.ReadTimeout)),
    ("connect", raises(httpx.ConnectError)),
    ("garbage", httpx.Response(201, content=b"\x00\xff")),
]


@pytest.mark.parametrize("token", [LEGACY, PAT], ids=["legacy", "pat"])
@pytest.mark.parametrize(("name", "answer"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_token_in_no_error(
    fake: Fake, clock: FakeClock, token: str, name: str, answer: Answer
) -> None:
    fake.on("POST", IMPORT, answer)
    fake.on("GET", "/api/projects/7/", answer)
    policy = RetryPolicy(attempts=2, jitter=lambda: 1.0)
    with make_client(fake, clock, token=token, retry=policy) as client:
        for call in (lambda: client.import_tasks(7, TASKS_BODY), lambda: client.get_project(7)):
            with pytest.raises(LsImportError) as info:
                call()
            assert isinstance(info.value, (ServerError, RequestFailed))
            assert_secret_free(info.value)
