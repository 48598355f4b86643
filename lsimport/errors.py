"""The exception tree and the exit statuses it maps to, in one place."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes: a contract for scripts and CI pipelines."""

    OK = 0
    INVALID = 1  # some records were invalid or did not get in; the rest did
    USAGE = 2  # unknown option, missing file, unreadable config
    SERVER = 3  # the server could not be used at all (unreachable, auth refused, no project)
    PENDING = 75  # EX_TEMPFAIL: what some requests did is still unknown; run the same command
    INTERRUPTED = 130  # Ctrl-C / SIGTERM: in-flight work settled, summary printed
    INTERNAL = 70  # a bug in lsimport (EX_SOFTWARE); the message says how to report it
    WORKER = 71  # EX_OSERR: a worker process of validate --jobs was killed (out of memory)


class LsImportError(Exception):
    """Base of every error lsimport raises on purpose; the message is for the user."""

    exit_status: ExitStatus = ExitStatus.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(LsImportError):
    """Bad options, missing files, unreadable or unsafe labeling config."""

    exit_status = ExitStatus.USAGE


class ConfigError(UsageError):
    """A labeling config that cannot be parsed or is refused (XML bomb, external entity)."""


class WorkerError(LsImportError):
    """A worker process of `validate --jobs` ended before giving every result it owed (killed:
    out of memory, a signal); its findings would be missing, so the run stops."""

    exit_status = ExitStatus.WORKER

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="rerun with --jobs 1 to check in this process alone")


class ServerError(LsImportError):
    """The server cannot be used at all: unreachable, auth refused, project missing."""

    exit_status = ExitStatus.SERVER


class AuthError(ServerError):
    """The token was refused; the hint says what to do about it."""


class NoTokenRefresh(AuthError):
    """A personal access token, and the server has no endpoint to exchange it (404/405): a Label
    Studio older than personal access tokens (1.13 and before), or not Label Studio at all."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class NotFoundError(ServerError):
    """A project (or another object named by the user) does not exist."""


class Interrupted(LsImportError):
    """The run was stopped by a signal after settling in-flight work."""

    exit_status = ExitStatus.INTERRUPTED


# --- talking to the server (raised by lsimport.send.client and lsimport.send.auth) ---


class ServerUnreachable(ServerError):
    """No usable connection: DNS, refused connection, TLS failure, no answer in time."""


class TokenRefreshUnavailable(ServerUnreachable):
    """The token refresh endpoint answered 429/5xx; the request it was for was never sent."""


class ReadRefused(ServerError):
    """A read the server refused (403, 400, or 429 after the retries): what the run needs to
    know (the project, its tasks) cannot be had, so the server cannot be used."""

    def __init__(self, message: str, *, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class BadResponse(ServerError):
    """The server answered, but not as Label Studio's API does (an HTML page, a 5xx to a read)."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None):
        super().__init__(message, hint=hint)
        self.status = status  # the HTTP status of the answer, when it had one


class UnexpectedRedirect(BadResponse):
    """A 3xx answer: followed only within the same origin, so the token never leaves it."""

    def __init__(self, message: str, *, location: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.location = location


class RequestFailed(LsImportError):
    """One write request did not certainly go through; the run can go on and reconcile."""

    exit_status = ExitStatus.INVALID

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status  # HTTP status, None when no answer came back
        self.detail = detail  # the server's own words, summarised


class RequestRejected(RequestFailed):
    """A definitive refusal (4xx, or 429/503 after retries): nothing of the request was saved."""


class PayloadTooLarge(RequestRejected):
    """HTTP 413: the body is over the server's or a proxy's limit; send smaller batches."""


class OutcomeUnknown(RequestFailed):
    """The request may or may not have been applied: check what arrived before sending again."""
