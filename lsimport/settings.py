"""Frozen settings objects: what the CLI's options become, and the rules between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from lsimport.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lsimport.model import Format, OutputFormat

URL_ENV = "LABEL_STUDIO_URL"
API_KEY_ENV = "LABEL_STUDIO_API_KEY"
# Label Studio 1.23.2 recounts every task of the project after each bulk predictions request
# (2 s for 10,000 tasks on a shared 2-core machine): fewer, bigger requests. --max-batch-bytes
# still caps them, and a 413 splits them.
PREDICTION_BATCH_SIZE = 5000
# Findings printed per code (text and github output) before the rest are only counted: a
# file whose records all share one mistake says so in a screenful, with a table per code.
MAX_FINDINGS = 20


def redact_url(url: str) -> str:
    """`url` without user-info (`user:password@`), query or fragment: fit to be shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "an invalid address"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate. The token and the URL (which may hold
    `user:password@`) are kept out of repr(); `display_url` is the URL fit to be shown."""

    url: str = field(repr=False)
    api_key: str = field(repr=False)
    ca_bundle: str | None = None
    timeout: float | None = None  # seconds to wait for an answer; None: the client's defaults

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def verify(self) -> bool | str:
        return self.ca_bundle or True

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for LabelStudioClient: TLS verification and timeout."""
        options: dict[str, Any] = {"verify": self.verify}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        return options


def resolve_connection(
    url: str | None,
    api_key: str | None,
    environ: Mapping[str, str],
    *,
    ca_bundle: str | None = None,
    timeout: float | None = None,
) -> Connection:
    """Options win over LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY; both must end up set."""
    url = url or environ.get(URL_ENV)
    api_key = api_key or environ.get(API_KEY_ENV)
    if not url:
        raise UsageError(
            "no Label Studio URL", hint=f"pass --url http://host:8080 or set {URL_ENV}"
        )
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, got {redact_url(url)!r}")
    if timeout is not None and timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if not api_key:
        raise UsageError(
            "no API token",
            hint=f"pass --api-key or set {API_KEY_ENV} "
            "(Account & Settings -> Personal Access Token)",
        )
    return Connection(url.rstrip("/"), api_key.strip(), ca_bundle, timeout)


@dataclass(frozen=True)
class ValidateSettings:
    paths: tuple[str, ...]
    fmt: Format | None = None
    label_config: str | None = None
    project: int | None = None
    connection: Connection | None = None
    strict: bool = False
    output: OutputFormat = "text"
    quiet: bool = False
    jobs: int | Literal["auto"] = "auto"  # processes for big JSONL files; auto: the idle cores
    preannotated_from_fields: tuple[str, ...] = ()
    max_findings: int | None = MAX_FINDINGS  # per code (text, github); None: all

    def __post_init__(self) -> None:
        if self.max_findings is not None and self.max_findings < 0:
            raise UsageError("--max-findings must be 0 or more")
        if self.preannotated_from_fields and not (self.label_config or self.project is not None):
            raise UsageError("--preannotated-from-fields needs --label-config or --project")
        if self.jobs != "auto" and not 1 <= self.jobs <= 64:
            raise UsageError("--jobs must be auto or between 1 and 64")
        if self.label_config and self.project is not None:
            raise UsageError("give --label-config or --project, not both")
        if self.project is not None and self.connection is None:
            raise UsageError("--project needs a server: pass --url and --api-key")


# A batch read from stdin or a pipe is sent once it has waited this long, full or not.
DEFAULT_FLUSH_INTERVAL = 5.0


def check_settling(settle_timeout: float | None, flush_interval: float | None) -> None:
    """The timing options every sending command shares."""
    if settle_timeout is not None and not 0 <= settle_timeout <= 24 * 3600:
        raise UsageError("--settle-timeout must be between 0 and 86400 seconds")
    if flush_interval is not None and not 0 <= flush_interval <= 24 * 3600:
        raise UsageError("--flush-interval must be between 0 (off) and 86400 seconds")


def check_batching(batch_size: int | None, max_batch_bytes: int) -> None:
    """The batch limits every sending command shares (batch_size None: from the server)."""
    if batch_size is not None and batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if max_batch_bytes < 1024:
        raise UsageError("--max-batch-bytes must be at least 1024")


@dataclass(frozen=True)
class UploadSettings:
    paths: tuple[str, ...]
    project: int
    connection: Connection
    fmt: Format | None = None
    config_check: bool = True
    batch_size: int | None = None  # None: chosen from the server (run.default_batch_size)
    max_batch_bytes: int = 8 * 1024 * 1024
    workers: int | None = None  # None: chosen from the server (run.default_workers)
    preannotated_from_fields: tuple[str, ...] = ()
    model_version: str | None = None
    dry_run: bool = False
    key: str | None = None
    allow_duplicates: bool = False
    dedupe: bool = False
    journal: str | None = None
    resume: bool = False
    failures: str | None = None
    output: OutputFormat = "text"
    quiet: bool = False
    strict: bool = False
    ids: str | None = None  # --ids FILE: which task each record is
    settle_timeout: float | None = None  # None: from how long this server's requests take
    flush_interval: float | None = None  # None: DEFAULT_FLUSH_INTERVAL for pipes, off for files

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.max_batch_bytes)
        check_settling(self.settle_timeout, self.flush_interval)
        if self.workers is not None and not 1 <= self.workers <= 32:
            raise UsageError("--workers must be between 1 and 32")
        if self.output == "github":
            raise UsageError("--output for upload is text or json")
        if self.dedupe and self.allow_duplicates:
            raise UsageError("give --dedupe or --allow-duplicates, not both")
        if self.dedupe and self.key is not None:
            raise UsageError(
                "give --dedupe or --key, not both",
                hint="--key already makes one task per value of its field",
            )


def parse_match_on(value: str) -> tuple[str, ...]:
    """`data.image` (or `image`) -> ("image",); `data.meta.id` -> ("meta", "id")."""
    path = value.strip()
    if path.startswith("data."):
        path = path[len("data.") :]
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts):
        raise UsageError(
            f"--match-on {value!r} does not name a data field",
            hint="for example --match-on data.image",
        )
    return parts


@dataclass(frozen=True)
class PredictionSettings:
    """What `lsimport predictions` was asked to do."""

    paths: tuple[str, ...]
    project: int
    connection: Connection
    fmt: Format | None = None
    match_on: str | None = None
    model_version: str | None = None
    set_project_model_version: bool = False
    config_check: bool = True
    batch_size: int = PREDICTION_BATCH_SIZE
    max_batch_bytes: int = 8 * 1024 * 1024
    failures: str | None = None
    output: Literal["text", "json"] = "text"
    quiet: bool = False
    strict: bool = False
    ids: str | None = None  # --ids FILE: which task each record's prediction is on
    replace: bool = False  # older predictions of the same model version are removed
    settle_timeout: float | None = None  # None: from how long this server's requests take
    flush_interval: float | None = None  # None: DEFAULT_FLUSH_INTERVAL for pipes, off for files

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.max_batch_bytes)
        check_settling(self.settle_timeout, self.flush_interval)
        if self.output not in ("text", "json"):
            raise UsageError("--output for predictions is text or json")
        if self.set_project_model_version and not self.model_version:
            raise UsageError(
                "--set-project-model-version needs --model-version",
                hint="e.g. --model-version v3 --set-project-model-version",
            )
        if self.match_on is not None:
            parse_match_on(self.match_on)

    @property
    def match_path(self) -> tuple[str, ...] | None:
        return parse_match_on(self.match_on) if self.match_on is not None else None


@dataclass(frozen=True)
class VerifySettings:
    """What `lsimport verify` was asked to check."""

    paths: tuple[str, ...]
    project: int
    connection: Connection
    fmt: Format | None = None
    match_on: str | None = None
    output: OutputFormat = "text"

    def __post_init__(self) -> None:
        if self.match_on is not None:
            parse_match_on(self.match_on)

    @property
    def match_path(self) -> tuple[str, ...] | None:
        return parse_match_on(self.match_on) if self.match_on is not None else None


FROM_API_KEY_ENV = "LABEL_STUDIO_FROM_API_KEY"


def resolve_source(
    from_url: str | None, from_api_key: str | None, target: Connection, environ: Mapping[str, str]
) -> Connection:
    """Where `copy` reads from: the target's server unless --from-url names another, whose
    own token is then needed (the target's is never sent to another server)."""
    url = (from_url or target.url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--from-url must start with http:// or https://, got {url!r}")
    key = from_api_key or environ.get(FROM_API_KEY_ENV)
    if not key:
        if url != target.url:
            raise UsageError(
                "--from-url names another server: its token is needed",
                hint=f"pass --from-api-key or set {FROM_API_KEY_ENV} (the target's token is "
                "never sent to another server)",
            )
        key = target.api_key
    return Connection(url, key.strip(), target.ca_bundle, target.timeout)


@dataclass(frozen=True)
class CopySettings:
    """What `lsimport copy` was asked to do."""

    from_project: int
    source: Connection
    connection: Connection
    project: int | None = None
    create_project: str | None = None
    batch_size: int | None = None  # None: chosen from the server (run.default_batch_size)
    max_batch_bytes: int = 8 * 1024 * 1024
    workers: int | None = None
    dry_run: bool = False
    failures: str | None = None
    ids: str | None = None
    output: Literal["text", "json"] = "text"
    quiet: bool = False
    strict: bool = False

    def __post_init__(self) -> None:
        check_batching(self.batch_size, self.max_batch_bytes)
        if (self.project is None) == (self.create_project is None):
            raise UsageError(
                "give the target: --project ID, or --create-project TITLE",
                hint="--create-project makes it with the source's labeling config (and reuses "
                "the project of that title when it is there, so a rerun copies nothing)",
            )
        if self.create_project is not None and not 3 <= len(self.create_project) <= 50:
            raise UsageError("--create-project: a title of 3 to 50 characters")
        if self.output not in ("text", "json"):
            raise UsageError("--output for copy is text or json")
        same_server = self.source.url == self.connection.url
        if same_server and self.project is not None and self.project == self.from_project:
            raise UsageError("--project is the source project itself")


def parse_size(text: str, option: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` -> (width, height)."""
    w, sep, h = text.lower().partition("x")
    if sep and w.strip().isdigit() and h.strip().isdigit():
        return int(w), int(h)
    raise UsageError(f"{option} {text!r} is not WIDTHxHEIGHT", hint=f"e.g. {option} 1920x1080")


@dataclass(frozen=True)
class ConvertOptions:
    """`convert`'s options for the converters (lsimport.convert), library callers' too."""

    from_name: str | None = None  # default: the config's control, or "label"
    to_name: str | None = None  # default: the config's object, or the data key
    image_root_url: str | None = None  # default: the format's, as label-studio-converter's
    model_version: str | None = None
    classes: str | None = None  # names "a,b", pairs "1=a,2=b", or a file (classes.txt, yaml, json)
    obb: bool = False  # yolo: 8-coordinate lines are oriented boxes, not polygons
    image_ext: str = ".jpg"  # masks: the image a mask file belongs to is STEM + this
    framerate: float | None = None  # mot: frames per second (default: seqinfo.ini, else 25)
    video_size: tuple[int, int] | None = None  # mot: width, height (default: seqinfo.ini)

    def __post_init__(self) -> None:
        if self.framerate is not None and not self.framerate > 0:
            raise UsageError("--framerate must be a positive number of frames per second")
        if self.video_size is not None and min(self.video_size) < 1:
            raise UsageError("--video-size must be WIDTHxHEIGHT in pixels, e.g. 1920x1080")
        if self.image_root_url is not None and not self.image_root_url.strip():
            raise UsageError("--image-root-url is empty")


@dataclass(frozen=True)
class ConvertSettings:
    fmt: str
    paths: tuple[str, ...]
    options: ConvertOptions
    output: str | None = None  # -o; None: stdout
    config_out: str | None = None
    label_config: str | None = None
    project: int | None = None
    connection: Connection | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.label_config and self.project is not None:
            raise UsageError("give --label-config or --project, not both")
        if self.project is not None and self.connection is None:
            raise UsageError("--project needs a server: pass --url and --api-key")
        if self.config_out and (self.label_config or self.project is not None):
            raise UsageError(
                "--config-out writes the generated config; with --label-config or --project "
                "there is none to write"
            )
