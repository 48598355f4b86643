"""LabelStudioAuth and token_kind, driven through httpx.MockTransport and a fake clock."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from lsimport.errors import AuthError, LsImportError, TokenRefreshUnavailable, UnexpectedRedirect
from lsimport.send.auth import LabelStudioAuth, describe_response, jwt_claims, token_kind

BASE = "https://ls.example.com"
LEGACY = "0123456789abcdef0123456789abcdef01234567"
WALL = 1_800_000_000.0  # the fake wall clock: seconds since the epoch


def _b64(obj: Any) -> str:
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(**claims: Any) -> str:
    """A JWT-shaped token (unsigned: nobody here verifies signatures)."""
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"


PAT = make_jwt(token_type="refresh", exp=WALL + 10 * 365 * 86400, iat=WALL, jti="pat", user_id=1)


class FakeClock:
    """Monotonic and wall clocks that move only when told (or when slept on)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_offset = WALL - self.now

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset


@contextmanager
def expect_error(kind: type[LsImportError], *secrets: str) -> Iterator[pytest.ExceptionInfo[Any]]:
    """pytest.raises that also checks the error never shows a secret (PAT, access, legacy)."""
    with pytest.raises(kind) as info:
        yield info
    assert_secret_free(info.value, *(secrets or (PAT, LEGACY)))


def assert_secret_free(exc: BaseException, *secrets: str) -> None:
    """str and repr of the error, its hint and its whole cause chain, contain no secret."""
    seen: BaseException | None = exc
    while seen is not None:
        texts = [str(seen), repr(seen), str(getattr(seen, "hint", "")), repr(seen.args)]
        for secret in secrets:
            for text in texts:
                assert secret not in text, f"secret leaked in {type(seen).__name__}: {text}"
        seen = seen.__cause__ or seen.__context__


class Server:
    """A fake Label Studio: token refresh, token checks, and canned answers per path."""

    def __init__(self, clock: FakeClock, *, legacy_enabled: bool = True) -> None:
        self.clock = clock
        self.legacy_enabled = legacy_enabled
        self.access_lifetime = 300
        self.valid_access: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.refreshes = 0
        self.refresh_answer: Callable[[httpx.Request], httpx.Response] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/api/token/refresh/"):
            return self.refresh(request)
        header = request.headers.get("Authorization", "")
        if header == f"Token {LEGACY}":
            if not self.legacy_enabled:
                return error(
                    401,
                    "Authentication token no longer valid: legacy token authentication has "
                    "been disabled for this organization",
                )
        elif not (header.startswith("Bearer ") and header[7:] in self.valid_access):
            return error(401, "Authentication credentials were not provided.")
        return httpx.Response(200, json={"ok": True, "path": request.url.path})

    def refresh(self, request: httpx.Request) -> httpx.Response:
        self.refreshes += 1
        if self.refresh_answer is not None:
            return self.refresh_answer(request)
        if json.loads(request.content) != {"refresh": PAT}:
            return error(401, "Token is invalid")
        iat = int(self.clock.wall())
        access = make_jwt(
            token_type="access", iat=iat, exp=iat + self.access_lifetime, jti=f"a{self.refreshes}"
        )
        self.valid_access.add(access)
        return httpx.Response(200, json={"access": access})

    def data_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/api/token/refresh/")]


def error(status: int, detail: str) -> httpx.Response:
    return httpx.Response(
        status, json={"id": "x", "status_code": status, "version": "1.23.2", "detail": detail}
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Server:
    return Server(clock)


def http_client(server: Server, token: str, clock: FakeClock) -> httpx.Client:
    auth = LabelStudioAuth(token, BASE, clock=clock, wall_clock=clock.wall)
    return httpx.Client(
        base_url=BASE, auth=auth, transport=httpx.MockTransport(server.handler), timeout=5.0
    )


def auth_of(client: httpx.Client) -> LabelStudioAuth:
    assert isinstance(client.auth, LabelStudioAuth)
    return client.auth


# --- token_kind and jwt_claims ---


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        (LEGACY, "legacy"),
        (PAT, "pat"),
        (f"  {PAT}\n", "pat"),
        ("a.b.c", "pat"),  # the shape decides, even when the parts decode to garbage
        ("a.b", "legacy"),
        ("a..c", "legacy"),
        ("a b.c.d", "legacy"),
        ("", "legacy"),
    ],
)
def test_token_kind_by_shape(token: str, kind: str) -> None:
    assert token_kind(token) == kind


def test_jwt_claims_reads_payload_without_verifying() -> None:
    claims = jwt_claims(PAT)
    assert claims is not None
    assert claims["token_type"] == "refresh"


@pytest.mark.parametrize(
    "token",
    [
        LEGACY,
        "a.b.c",  # not base64 of JSON
        f"x.{base64.urlsafe_b64encode(b'[1, 2]').decode()}.y",  # JSON, but not an object
        "x.!!!.y",
        "x.\u00e9\u00e9.y",
    ],
)
def test_jwt_claims_tolerates_garbage(token: str) -> None:
    assert jwt_claims(token) is None


# --- legacy tokens ---


def test_legacy_token_sent_as_token_header(server: Server, clock: FakeClock) -> None:
    with http_client(server, LEGACY, clock) as client:
        assert client.get("/api/current-user/whoami").status_code == 200
    assert server.requests[0].headers["Authorization"] == f"Token {LEGACY}"
    assert server.refreshes == 0


def test_legacy_disabled_says_what_to_do(clock: FakeClock) -> None:
    server = Server(clock, legacy_enabled=False)
    with http_client(server, LEGACY, clock) as client:
        response = client.get("/api/current-user/whoami")
        error_ = auth_of(client).error_for(response)
    assert response.status_code == 401
    assert "legacy token authentication has been disabled" in error_.message
    assert error_.hint is not None
    assert "Personal Access Token" in error_.hint
    assert "Organization settings" in error_.hint
    assert_secret_free(error_, LEGACY)


# --- personal access tokens ---


def test_pat_exchanged_for_access_token(server: Server, clock: FakeClock) -> None:
    with http_client(server, PAT, clock) as client:
        assert client.get("/api/projects/1/").status_code == 200
        assert client.get("/api/projects/1/").status_code == 200
    refresh, first, second = server.requests
    assert refresh.method == "POST"
    assert str(refresh.url) == f"{BASE}/api/token/refresh/"
    assert json.loads(refresh.content) == {"refresh": PAT}
    assert first.headers["Authorization"].startswith("Bearer ")
    assert first.headers["Authorization"] != f"Bearer {PAT}"  # the PAT itself is never a Bearer
    assert second.headers["Authorization"] == first.headers["Authorization"]
    assert server.refreshes == 1


def test_refresh_keeps_base_path_and_timeout(server: Server, clock: FakeClock) -> None:
    auth = LabelStudioAuth(PAT, "https://ls.example.com/label-studio/", clock=clock)
    assert str(auth.refresh_url) == "https://ls.example.com/label-studio/api/token/refresh/"
    transport = httpx.MockTransport(server.handler)
    with httpx.Client(auth=auth, transport=transport, timeout=7.0) as client:
        client.get("https://ls.example.com/label-studio/api/projects/")
    assert server.requests[0].extensions["timeout"]["read"] == 7.0


def test_access_token_renewed_before_it_expires(server: Server, clock: FakeClock) -> None:
    with http_client(server, PAT, clock) as client:
        client.get("/a")
        clock.now += 239  # 61 s left: still good
        client.get("/b")
        assert server.refreshes == 1
        clock.now += 2  # 59 s left: renew first
        client.get("/c")
        assert server.refreshes == 2
        clock.now += 1000  # long past exp: renewed, never sent stale
        assert client.get("/d").status_code == 200
    assert server.refreshes == 3


def test_access_lifetime_from_exp_alone_uses_wall_clock(server: Server, clock: FakeClock) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        access = make_jwt(token_type="access", exp=int(clock.wall()) + 100)
        server.valid_access.add(access)
        return httpx.Response(200, json={"access": access})

    server.refresh_answer = answer
    with http_client(server, PAT, clock) as client:
        client.get("/a")
        clock.now += 49  # 100 s lifetime: renewed with 50 s (half of it) left
        client.get("/b")
        assert server.refreshes == 1
        clock.now += 2
        client.get("/c")
    assert server.refreshes == 2


def test_access_without_claims_renewed_by_timer(server: Server, clock: FakeClock) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        access = f"opaque-access-{server.refreshes}"
        server.valid_access.add(access)
        return httpx.Response(200, json={"access": access})

    server.refresh_answer = answer
    with http_client(server, PAT, clock) as client:
        client.get("/a")
        clock.now += 230
        client.get("/b")
        assert server.refreshes == 1
        clock.now += 20  # past the 5-minute lifetime less a minute
        client.get("/c")
    assert server.refreshes == 2


def test_401_mid_run_renews_once_and_resends(server: Server, clock: FakeClock) -> None:
    with http_client(server, PAT, clock) as client:
        client.get("/a")
        server.valid_access.clear()  # the server forgot the access token (restart, revoke)
        response = client.post("/api/projects/1/import", content=b"[1, 2]")
    assert response.status_code == 200
    assert server.refreshes == 2
    imports = [r for r in server.requests if r.url.path == "/api/projects/1/import"]
    assert len(imports) == 2  # refused once with 401, then accepted
    assert imports[1].content == b"[1, 2]"


def test_401_after_renewal_is_returned_not_looped(server: Server, clock: FakeClock) -> None:
    server.refresh_answer = lambda request: httpx.Response(200, json={"access": make_jwt(x=1)})
    with http_client(server, PAT, clock) as client:
        response = client.get("/a")
        error_ = auth_of(client).error_for(response)
    assert response.status_code == 401
    assert server.refreshes == 2
    assert len(server.data_requests()) == 2
    assert "even after renewing" in error_.message
    assert error_.hint is not None and "legacy token" in error_.hint
    assert_secret_free(error_)


@pytest.mark.parametrize("status", [404, 405])
def test_refresh_endpoint_missing_means_older_server(
    server: Server, clock: FakeClock, status: int
) -> None:
    server.refresh_answer = lambda request: error(status, "Not found.")
    with http_client(server, PAT, clock) as client, expect_error(AuthError) as info:
        client.get("/a")
    assert "older than personal access tokens" in info.value.message
    assert "legacy token" in (info.value.hint or "")
    assert server.data_requests() == []  # nothing sent without a token


@pytest.mark.parametrize("detail", ["Token is invalid", "Token is blacklisted"])
def test_refused_pat_says_invalid_expired_or_revoked(
    server: Server, clock: FakeClock, detail: str
) -> None:
    server.refresh_answer = lambda request: error(401, detail)
    with http_client(server, PAT, clock) as client, expect_error(AuthError) as info:
        client.get("/a")
    assert "invalid, expired or revoked" in info.value.message
    assert detail in info.value.message
    assert "Personal Access Token" in (info.value.hint or "")


def test_expired_pat_names_its_expiry(server: Server, clock: FakeClock) -> None:
    old = make_jwt(token_type="refresh", exp=WALL - 86400, iat=WALL - 2 * 86400)
    server.refresh_answer = lambda request: error(401, "Token is invalid")
    with http_client(server, old, clock) as client, expect_error(AuthError, old) as info:
        client.get("/a")
    assert "expired on 2027-01-14" in info.value.message


def test_access_token_given_as_api_key(clock: FakeClock) -> None:
    access = make_jwt(token_type="access", exp=WALL + 300)
    with expect_error(AuthError, access) as info:
        LabelStudioAuth(access, BASE, clock=clock)
    assert "access token, not a personal access token" in info.value.message


def test_wrong_type_answer_from_refresh(server: Server, clock: FakeClock) -> None:
    server.refresh_answer = lambda request: error(401, "Token has wrong type")
    with http_client(server, PAT, clock) as client, expect_error(AuthError) as info:
        client.get("/a")
    assert "not a personal access token" in info.value.message


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_refresh_unavailable_is_its_own_error(
    server: Server, clock: FakeClock, status: int
) -> None:
    server.refresh_answer = lambda request: httpx.Response(status, text="busy")
    with http_client(server, PAT, clock) as client, expect_error(TokenRefreshUnavailable):
        client.get("/a")
    assert server.data_requests() == []


def test_refresh_answer_without_access(server: Server, clock: FakeClock) -> None:
    page = "<html><head><title>Sign in - Corp SSO</title></head><body>...</body></html>"
    server.refresh_answer = lambda request: httpx.Response(
        200, text=page, headers={"Content-Type": "text/html"}
    )
    with http_client(server, PAT, clock) as client, expect_error(AuthError) as info:
        client.get("/a")
    assert "Sign in - Corp SSO" in info.value.message
    assert "<html" not in info.value.message


def test_refresh_redirect_is_not_followed(server: Server, clock: FakeClock) -> None:
    server.refresh_answer = lambda request: httpx.Response(
        302, headers={"Location": "https://sso.example.org/login?next=x"}
    )
    with http_client(server, PAT, clock) as client, expect_error(UnexpectedRedirect) as info:
        client.get("/a")
    assert "https://sso.example.org/login" in info.value.message
    assert all(r.url.host == "ls.example.com" for r in server.requests)


@pytest.mark.parametrize("token", ["", "   ", "abc def", "abc\ndef", "t\u00f6ken"])
def test_unusable_api_key_refused_up_front(token: str) -> None:
    with expect_error(AuthError, *(t for t in [token.strip()] if t)):
        LabelStudioAuth(token, BASE)


def test_repr_and_redact_hide_the_token(server: Server, clock: FakeClock) -> None:
    auth = LabelStudioAuth(PAT, BASE, clock=clock)
    assert PAT not in repr(auth)
    assert auth.redact(f"oops {PAT} here") == "oops *** here"
    legacy = LabelStudioAuth(LEGACY, BASE)
    assert LEGACY not in repr(legacy)


# --- concurrency ---


def test_threads_share_one_refresh(clock: FakeClock) -> None:
    server = Server(clock)
    inner = server.refresh

    def slow_refresh(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)  # widen the window in which other threads could race a refresh
        return inner(request)

    server.refresh = slow_refresh  # type: ignore[method-assign]
    statuses: list[int] = []
    with http_client(server, PAT, clock) as client:

        def work() -> None:
            statuses.append(client.get("/api/current-user/whoami").status_code)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert statuses == [200] * 8
    assert server.refreshes == 1


def test_lock_released_when_refresh_transport_fails(server: Server, clock: FakeClock) -> None:
    auth = LabelStudioAuth(PAT, BASE, clock=clock)
    failing = {"on": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if failing["on"] and request.url.path == "/api/token/refresh/":
            raise httpx.ConnectError("connection refused", request=request)
        return server.handler(request)

    with httpx.Client(base_url=BASE, auth=auth, transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("/a")
        assert auth._lock.acquire(blocking=False)  # not left held by the abandoned flow
        auth._lock.release()
        failing["on"] = False
        assert client.get("/a").status_code == 200


def test_describe_response_summarises_html() -> None:
    page = "<!doctype html><html><title>\n 502 Bad &amp; Gateway </title><body>x</body></html>"
    response = httpx.Response(502, text=page, headers={"Content-Type": "text/html"})
    assert (
        describe_response(response) == "HTTP 502 Bad Gateway with an HTML page: 502 Bad & Gateway"
    )
