"""Label Studio authentication: legacy tokens and personal access tokens (JWT).

A legacy token is sent as ``Authorization: Token <key>``. A personal access token (PAT) is a JWT
*refresh* token: it is exchanged at ``POST /api/token/refresh/`` for an access token that lives
five minutes, sent as ``Authorization: Bearer <access>``, and renewed before it runs out.

The token never appears in a message, a repr or a log line: errors describe it, never quote it.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import re
import threading
import time
from collections.abc import Callable, Generator
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
import orjson

from lsimport.errors import AuthError, NoTokenRefresh, TokenRefreshUnavailable, UnexpectedRedirect

__all__ = [
    "LabelStudioAuth",
    "TokenKind",
    "describe_response",
    "jwt_claims",
    "safe_url",
    "server_detail",
    "token_kind",
]

logger = logging.getLogger(__name__)

TokenKind = Literal["pat", "legacy"]

REFRESH_PATH = "api/token/refresh/"
# Label Studio's access tokens live 5 minutes; used only when a token carries no exp claim.
DEFAULT_ACCESS_LIFETIME = 300.0
REFRESH_MARGIN = 60.0

_B64URL_PART = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_PAT_WHERE = "Label Studio: Account & Settings -> Personal Access Token"
_LEGACY_WHERE = "Label Studio: Account & Settings -> Legacy Token"


def _b64url_json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return orjson.loads(base64.urlsafe_b64decode(padded))


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, decoded without verifying it; None when it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = _b64url_json(parts[1])
    except (binascii.Error, ValueError):  # orjson.JSONDecodeError is a ValueError
        return None
    return claims if isinstance(claims, dict) else None


def token_kind(token: str) -> TokenKind:
    """'pat' for a JWT (three base64url parts separated by dots), else 'legacy'."""
    parts = token.strip().split(".")
    if len(parts) == 3 and all(_B64URL_PART.match(p) for p in parts):
        return "pat"
    return "legacy"


def _number(value: object) -> float | None:
    # bool is an int subclass; a claim of `true` is garbage, not a time
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_MAX_DETAIL = 2000


def _one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def _flatten_errors(value: object) -> str:
    """Django REST framework's nested error structures as one readable line."""
    if isinstance(value, dict):
        parts = []
        for key, inner in value.items():
            text = _flatten_errors(inner)
            if text:  # Label Studio pads its import errors with `{}`, one per good item
                parts.append(text if key == "non_field_errors" else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(value, list):
        return "; ".join(text for text in map(_flatten_errors, value) if text)
    return str(value)


def server_detail(response: httpx.Response) -> str:
    """What the server said, in a line: validation errors or `detail` of a JSON error body,
    the <title> of an HTML page, or the start of a text body."""
    body = response.content
    if not body.strip():
        return "empty body"
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    else:
        if isinstance(data, dict):
            for key in ("validation_errors", "detail", "error", "message"):
                if data.get(key):
                    return _one_line(_flatten_errors(data[key]))
        return _one_line(orjson.dumps(data).decode())
    text = body.decode("utf-8", errors="replace")
    content_type = response.headers.get("Content-Type", "")
    if "html" in content_type or text.lstrip()[:1] == "<":
        # A proxy's or a login page's HTML says nothing useful beyond its title.
        match = _TITLE.search(text)
        title = _one_line(html.unescape(match.group(1)), 200) if match else ""
        return f"an HTML page: {title}" if title else "an HTML page without a title"
    return _one_line(text, 500)


def describe_response(response: httpx.Response) -> str:
    """'HTTP 502 Bad Gateway with an HTML page: <title>' style summary of an answer."""
    detail = server_detail(response)
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if detail.startswith(("an HTML page", "empty body")):
        return f"{status} with {detail}"
    return f"{status}: {detail}"


class LabelStudioAuth(httpx.Auth):
    """httpx auth (sync clients) for both token kinds; one instance is shared by worker threads.

    PAT flow: exchange the PAT for an access token through the same client (and so the same
    transport), renew it when less than a minute is left, and on a 401 renew once and resend.
    """

    def __init__(
        self,
        token: str,
        base_url: str | httpx.URL,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        token = token.strip()
        if not token:
            raise AuthError(
                "no API key given",
                hint=f"create a personal access token ({_PAT_WHERE}) and pass it",
            )
        if not token.isascii() or any(c.isspace() or not c.isprintable() for c in token):
            raise AuthError(
                "the API key contains spaces, line breaks or non-ASCII characters",
                hint="copy the token again; a token is a single line of plain ASCII",
            )
        self._token = token
        self.kind: TokenKind = token_kind(token)
        self._claims = jwt_claims(token) if self.kind == "pat" else None
        if self._claims is not None and self._claims.get("token_type") == "access":
            raise AuthError(
                "the API key is a short-lived access token, not a personal access token",
                hint=f"use the personal access token itself ({_PAT_WHERE}); "
                "lsimport exchanges it for access tokens as needed",
            )
        base = str(base_url).rstrip("/")
        self.refresh_url = httpx.URL(f"{base}/{REFRESH_PATH}")
        # `user:password@` in the URL is as secret as the token: never in a message.
        self._userinfo = httpx.URL(str(base_url)).userinfo.decode("ascii", "replace")
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # one refresh at a time; other threads wait and reuse it
        self._access: str | None = None
        self._refresh_at = 0.0  # monotonic time after which the access token is renewed
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"LabelStudioAuth(kind={self.kind!r}, refresh_url={str(self.refresh_url)!r})"

    def redact(self, text: str) -> str:
        """`text` with the token and the current access token blanked out."""
        for secret in (self._token, self._access):
            if secret:
                text = text.replace(secret, "***")
        if self._userinfo:
            text = text.replace(self._userinfo + "@", "")
        return text

    # httpx drives this generator: each yielded request is sent and its response sent back in.
    # Overriding sync_auth_flow (not auth_flow) means httpx closes *this* generator when the
    # transport fails, so the `with self._lock` inside releases the lock at once.
    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self.kind == "legacy":
            request.headers["Authorization"] = f"Token {self._token}"
            yield request
            return
        access = yield from self._fresh_access(request, stale=None)
        request.headers["Authorization"] = f"Bearer {access}"
        response = yield request
        if response.status_code != 401:
            return
        # Revoked or expired early (clock skew, server restart with a new key): renew once and
        # resend once; a 401 means the server did nothing, so resending is safe even for a POST.
        logger.info("access token refused (HTTP 401); renewing it and resending once")
        access = yield from self._fresh_access(request, stale=access)
        request.headers["Authorization"] = f"Bearer {access}"
        yield request

    def _fresh_access(
        self, request: httpx.Request, *, stale: str | None
    ) -> Generator[httpx.Request, httpx.Response, str]:
        with self._lock:
            if (
                self._access is not None
                and self._access != stale
                and self._clock() < self._refresh_at
            ):
                return self._access
            response = yield self._refresh_request(request)
            response.read()
            self._store_access(self._access_from(response))
            assert self._access is not None
            return self._access

    def _refresh_request(self, request: httpx.Request) -> httpx.Request:
        extensions = {}
        if "timeout" in request.extensions:  # without it the transport would wait forever
            extensions["timeout"] = request.extensions["timeout"]
        return httpx.Request(
            "POST",
            self.refresh_url,
            content=orjson.dumps({"refresh": self._token}),
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": request.headers.get("User-Agent", "lsimport"),
            },
            extensions=extensions,
        )

    def _store_access(self, access: str) -> None:
        now = self._clock()
        claims = jwt_claims(access) or {}
        exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
        if exp is not None and iat is not None:
            lifetime = exp - iat  # both from the server's clock: no skew with ours
        elif exp is not None:
            lifetime = exp - self._wall_clock()
        else:
            lifetime = DEFAULT_ACCESS_LIFETIME
        margin = min(REFRESH_MARGIN, max(lifetime, 0.0) / 2)
        self._access = access
        self._refresh_at = now + lifetime - margin
        self.refresh_count += 1
        logger.debug("access token obtained; renewing it in %.0f s", lifetime - margin)

    def _access_from(self, response: httpx.Response) -> str:
        status = response.status_code
        if status == 200:
            try:
                access = orjson.loads(response.content).get("access")
            except (orjson.JSONDecodeError, AttributeError):
                access = None
            if isinstance(access, str) and access:
                return access
            raise AuthError(
                f"the token refresh endpoint {self.refresh_url} answered without an access "
                f"token ({self.redact(describe_response(response))})",
                hint="check that the URL is Label Studio's own address, not a proxy's login page",
            )
        if status in (404, 405):
            raise NoTokenRefresh(
                f"this server has no token refresh endpoint ({self.refresh_url} answered "
                f"HTTP {status}): it is a Label Studio older than personal access tokens, "
                "or the URL is not Label Studio's",
                status=status,
                hint=f"check the URL; on an older server use a legacy token ({_LEGACY_WHERE})",
            )
        if status == 429 or status >= 500:
            raise TokenRefreshUnavailable(
                f"the token refresh endpoint is unavailable "
                f"({self.redact(describe_response(response))})",
                hint="the server is overloaded or restarting; try again in a moment",
            )
        if response.is_redirect:
            location = response.headers.get("Location", "")
            raise UnexpectedRedirect(
                f"the token refresh was redirected to {safe_url(location)}; "
                "the token is not sent there",
                location=location,
                hint="use the address Label Studio is served at (https:// if it redirects there)",
            )
        detail = self.redact(server_detail(response))
        if "wrong type" in detail:
            raise AuthError(
                "the API key is a short-lived access token, not a personal access token",
                hint=f"use the personal access token itself ({_PAT_WHERE})",
            )
        raise AuthError(
            f"the personal access token was refused: it is invalid, expired or revoked "
            f"(HTTP {status}: {detail}{self._expiry_note()})",
            hint=f"create a new personal access token ({_PAT_WHERE}); if it was copied from "
            "another Label Studio server, it only works there",
        )

    def _expiry_note(self) -> str:
        exp = _number((self._claims or {}).get("exp"))
        if exp is None or exp > self._wall_clock():
            return ""
        try:
            when = datetime.fromtimestamp(exp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        except (OverflowError, OSError, ValueError):
            return ""
        return f"; by its own claim it expired on {when}"

    def error_for(self, response: httpx.Response) -> AuthError:
        """The AuthError for a final 401 (after the one renewal for a PAT), with what to do."""
        detail = self.redact(server_detail(response))
        if "legacy token authentication has been disabled" in detail:
            return AuthError(
                "legacy token authentication has been disabled for this organization",
                hint=f"use a personal access token instead ({_PAT_WHERE}), or have an "
                "organization owner enable legacy tokens in Organization settings "
                "(Organization -> API Tokens Settings)",
            )
        if self.kind == "legacy":
            return AuthError(
                f"the server refused the legacy token (HTTP 401: {detail})",
                hint=f"copy it again ({_LEGACY_WHERE}); a reset token replaces the old one, "
                "and a token only works on the server that issued it",
            )
        return AuthError(
            f"the server refused the access token obtained with the personal access token, "
            f"even after renewing it (HTTP 401: {detail})",
            hint="personal access tokens may be disabled for this organization: enable them in "
            "Organization settings (API Tokens Settings), or use a legacy token "
            f"({_LEGACY_WHERE}); a proxy that strips the Authorization header has the same effect",
        )


def safe_url(location: str) -> str:
    """A Location header fit for a message: no user-info, no query (either may hold secrets)."""
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL:
        return "an invalid address"
    return str(url.copy_with(userinfo=b"", query=None, fragment=None)) or "an empty address"
