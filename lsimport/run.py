"""One function per command: settings + environment in, exit status out.

This is where the pipeline is assembled and visible: read -> check -> (batch -> send) ->
report. The CLI only builds settings and calls these.
"""

from __future__ import annotations

import io
import os
import signal
import stat
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsimport.check.labelconfig import LabelConfig, load_label_config, parse_label_config
from lsimport.check.pipeline import Screens, Tally, auto_jobs, check_records
from lsimport.check.rules import TaskChecker
from lsimport.environment import Environment
from lsimport.errors import ExitStatus, ServerError, UsageError
from lsimport.model import Format, PredictionSummary, Record, Timing, UploadSummary
from lsimport.read.exports import ExportNotes, has_export_marks, iter_import_records
from lsimport.read.sources import (
    file_size,
    format_from_name,
    is_input,
    open_binary,
    peek_head,
    plain_file,
)
from lsimport.read.stream import Source, check_sources, iter_source, stream_problem
from lsimport.report.reporters import ValidationReporter, validation_reporter
from lsimport.settings import (
    DEFAULT_FLUSH_INTERVAL,
    Connection,
    ConvertSettings,
    CopySettings,
    PredictionSettings,
    UploadSettings,
    ValidateSettings,
    VerifySettings,
)

if TYPE_CHECKING:
    from lsimport.report.failures import FailureReport
    from lsimport.send.client import LabelStudioClient
    from lsimport.send.ids import IdsFile
    from lsimport.send.journal import Journal
    from lsimport.send.keys import Identity
    from lsimport.send.predictions import PlacedSink
    from lsimport.send.replace import Replacement


def build_client(conn: Connection, env: Environment, **options: Any) -> LabelStudioClient:
    """A client for `conn` on the environment's transport and clocks (options: the client's)."""
    from lsimport.send.client import LabelStudioClient  # lazy: httpx costs start-up time

    return LabelStudioClient(
        conn.url,
        conn.api_key,
        **conn.client_options(),
        transport=env.transport,
        clock=env.clock,
        sleep=env.sleep,
        **options,
    )


def fetch_label_config(connection: Connection, project: int) -> LabelConfig:
    """The live project's labeling config (read-only)."""
    from lsimport.send.client import LabelStudioClient  # lazy: httpx costs start-up time

    with LabelStudioClient(
        connection.url, connection.api_key, **connection.client_options()
    ) as client:
        proj = client.get_project(project)
    return parse_label_config(proj.get("label_config") or "", source=f"project {project}")


def run_validate(settings: ValidateSettings, env: Environment) -> ExitStatus:
    """Check every record of every input; report findings; 0 when no record has an error."""
    sources = check_sources(list(settings.paths))
    config: LabelConfig | None = None
    if settings.label_config:
        config = load_label_config(settings.label_config)
    elif settings.project is not None and settings.connection is not None:
        config = fetch_label_config(settings.connection, settings.project)
    checker = TaskChecker(config)
    reporter = validation_reporter(
        settings.output, env.stdout, quiet=settings.quiet, max_findings=settings.max_findings
    )
    tally = Tally()
    screens = Screens(config)
    jobs = settings.jobs
    idle: int | None = None  # --jobs auto: what the machine last said (None: not yet)

    def decide() -> int | None:
        """The processes to check the next chunk of a big file with: --jobs, or for auto one
        per core the machine last said was idle (None: too soon to tell)."""
        nonlocal idle
        if jobs != "auto":
            return jobs
        if (load := env.cpu_load()) is not None:
            idle = auto_jobs(*load)
        return idle

    try:
        for source in sources:
            tally.see_file(source.name)
            if (
                jobs != 1
                and not settings.preannotated_from_fields
                and _worth_parallel(source, settings)
                and decide() != 1  # busy now: the file is read as --jobs 1 reads it
            ):
                used = _validate_parallel(source, config, settings, env, decide, tally, reporter)
                tally.summary.jobs = max(tally.summary.jobs, used)
                continue
            # The screen passes clean records without building them (preannotating needs them).
            screen = None if settings.preannotated_from_fields else screens.for_source(source)
            records = iter_source(source, fmt=settings.fmt, stdin=env.stdin, screen=screen)
            records = iter_import_records(records, control_names=control_names(config))
            if settings.preannotated_from_fields and config is not None:
                from lsimport.check.preannotate import preannotate

                records = preannotate(records, config, settings.preannotated_from_fields, None)
            for rec in check_records(records, checker, strict=settings.strict):
                tally.add(rec)
                if rec.findings:
                    reporter.record(rec)
    except BaseException:  # an error, Ctrl-C: what was found so far is still said
        reporter.flush()
        raise
    reporter.finish(tally.summary)
    return ExitStatus.OK if tally.summary.ok else ExitStatus.INVALID


def control_names(config: LabelConfig | None) -> frozenset[str]:
    return frozenset(config.controls) if config is not None else frozenset()


def import_tasks(
    records: Iterable[Record],
    config: LabelConfig | None,
    read_users: Callable[[], Iterable[Mapping[str, Any]]],
    notes: ExportNotes,
) -> Iterator[Record]:
    """Label Studio exports made import tasks, their annotators matched by email to the
    target's users (read once, when an annotation names one)."""
    from lsimport.send.annotators import Annotators

    tasks = iter_import_records(records, control_names=control_names(config), notes=notes)
    return Annotators(read_users).assign(tasks)


# Below this, starting worker processes costs more than it saves (measured at load 1.3:
# 32 MB of choice tasks took 0.27-0.30 s in one process, 0.31-0.42 s in two).
MIN_PARALLEL_BYTES = 32 * 1024 * 1024


def _worth_parallel(source: Source, settings: ValidateSettings) -> bool:
    """Big JSONL files only: process start-up costs more than it saves on small ones."""
    size = file_size(source)  # None: stdin
    fmt = settings.fmt or format_from_name(source.path)
    if size is None or size < MIN_PARALLEL_BYTES or fmt != "jsonl":
        return False
    # A Label Studio export's records are made import tasks first (read.exports): one process.
    with open_binary(source, io.BytesIO()) as stream:  # gunzipped when gzip
        return not has_export_marks(peek_head(stream))


def _validate_parallel(
    source: Source,
    config: LabelConfig | None,
    settings: ValidateSettings,
    env: Environment,
    jobs: Callable[[], int | None],
    tally: Tally,
    reporter: ValidationReporter,
) -> int:
    """A big JSONL file, checked in chunks by `jobs()` processes (this one included), once
    that is more than one: by this process alone until then. Returns how many it used."""
    from lsimport.check.parallel import iter_checked_jsonl  # lazy: only big files need it

    used = 1

    def asked() -> int | None:
        nonlocal used
        total = jobs()
        used = max(used, total or 1)
        return total

    xml = config.xml if config else None
    try:
        with open_binary(source, env.stdin) as stream:
            chunks = iter_checked_jsonl(
                stream,
                source.name,
                xml,
                strict=settings.strict,
                jobs=asked,
                path=plain_file(source),
            )
            for count, flagged in chunks:
                clean = count - len(flagged)
                tally.summary.records += clean
                tally.summary.valid += clean
                for rec in flagged:
                    tally.add(rec)
                    reporter.record(rec)
    except (EOFError, zlib.error, OSError) as exc:
        rec = stream_problem(source, exc)
        tally.add(rec)
        reporter.record(rec)
    return used


def _state_dir(env: Environment) -> Path:
    base = env.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lsimport"


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C / SIGTERM ask the pipeline to stop after settling in-flight batches.

    A second Ctrl-C stops at once (the journal still lets the next run settle things).
    Returns a function restoring the previous handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore


@dataclass
class UploadOutcome:
    """What one upload did: the counts, the failures (a few kept in memory), a fatal error."""

    summary: UploadSummary
    failures: FailureReport
    fatal: ServerError | None
    notes: ExportNotes = field(default_factory=ExportNotes)  # what exports left out
    ids: IdsFile | None = None  # --ids, written


RecordsFor = Callable[["LabelConfig | None"], Iterable[Record]]


def upload_records(
    records_for: RecordsFor,
    settings: UploadSettings,
    env: Environment,
    *,
    journal_anchor: str | None,
    handle_signals: bool = True,
    keep: int = 20,
) -> UploadOutcome:
    """Validate every record against the project's config and import the valid ones, once.

    `records_for(config)` gives the records once the project's config is known (preannotating
    needs it). The journal is `settings.journal`, or one derived from `journal_anchor` (the
    first input's path); with neither, the project's keys are read back instead. The CLI and
    the library API (lsimport.upload) both come here.
    """
    from lsimport.report.progress import make_progress
    from lsimport.send.journal import Journal, find_journal
    from lsimport.send.keys import Identity
    from lsimport.send.tasks import Uploader, UploadOptions

    identity = Identity(settings.key, dedupe=settings.dedupe, repeats=not settings.allow_duplicates)
    ids_file = open_ids(settings.ids, settings.paths)
    conn = settings.connection
    client = build_client(conn, env, max_connections=(settings.workers or MAX_AUTO_WORKERS) + 2)
    with client:
        began = env.clock()
        project = client.get_project(settings.project)
        workers = settings.workers or default_workers(client.server_software)
        batch_size = settings.batch_size or default_batch_size(client.server_software)
        config = None
        label_config = project.get("label_config") or ""
        if settings.config_check or settings.preannotated_from_fields:
            config = parse_label_config(label_config, source=f"project {settings.project}")
        checker = TaskChecker(config if settings.config_check else None)

        journal: Journal | None = None
        state = None
        if settings.journal or journal_anchor is not None:
            journal_path = (
                Path(settings.journal)
                if settings.journal
                else find_journal(str(journal_anchor), conn.url, settings.project, _state_dir(env))
            )
            journal = Journal(journal_path, conn.url, settings.project)
            _check_journal(journal, settings)
            state = journal.load()
            if settings.resume and state is None:
                raise UsageError(
                    f"nothing to resume: no journal for this project at {journal_path}",
                    hint="run without --resume (re-running the same command is always safe)",
                )
        failures = _failure_report(settings.failures, settings.paths, keep)
        notes = ExportNotes()
        stop = threading.Event()
        show = env.stderr_is_tty and not settings.quiet
        progress = make_progress(
            env.stderr, enabled=show, total_records=_count_hint(settings.paths) if show else None
        )
        options = UploadOptions(
            project=settings.project,
            batch_size=batch_size,
            max_batch_bytes=settings.max_batch_bytes,
            workers=workers,
            allow_duplicates=settings.allow_duplicates,
            dedupe=settings.dedupe,
            dry_run=settings.dry_run,
            model_version=settings.model_version,
            settle_timeout=settings.settle_timeout,
            flush_interval=flush_interval(settings.paths, settings.flush_interval),
        )
        uploader = Uploader(
            client,
            options,
            keyer=identity,
            journal=None if settings.dry_run else journal,
            failures=failures,
            progress=progress,
            stop=stop,
            clock=env.clock,
            sleep=env.sleep,
        )
        if state is not None and state.pending and not settings.quiet:
            env.stderr.write(
                f"lsimport: settling {len(state.pending)} batch(es) the last run left "
                "unfinished (checking what reached the server)\n"
            )
        uploader.load_known(state)
        if journal is not None and not settings.dry_run:
            journal.start(fresh=state is None)
        restore = _install_stop_handlers(stop) if handle_signals else (lambda: None)
        complete = False  # every input read to its end: only then may the report replace one
        try:
            # The --ids tap keys the records with an identity of its own, fed the same records
            # in the same order: the same keys, with no state shared between the two.
            twin = identity.twin()
            records = import_tasks(records_for(config), config, client.list_users, notes)
            records = by_input(records, identity, twin)
            checked = check_records(records, checker, strict=settings.strict)
            if ids_file is not None:
                checked = ids_file.tap(checked, twin)
            with progress:
                summary = uploader.run(checked)
            complete = not summary.interrupted
        finally:
            restore()
            if journal is not None:
                journal.close()
            failures.close(complete=complete)
        if ids_file is not None:
            write_ids(ids_file, uploader.fatal, lambda: ids_file.join(client, settings.project))
        summary.timing = Timing(env.clock() - began, client.timer.busy_s(), client.timer.requests)
    return UploadOutcome(summary, failures, uploader.fatal, notes, ids_file)


def by_input(records: Iterable[Record], *identities: Identity) -> Iterator[Record]:
    """The records, telling each identity where each input starts (occurrences count per
    input): at a new file name, or where the record numbers start again (a file named twice)."""
    last_file, last_number = None, 0
    for rec in records:
        if not rec.is_file_problem:
            if rec.file != last_file or rec.number <= last_number:
                for identity in identities:
                    identity.new_input()
            last_file, last_number = rec.file, rec.number
        yield rec


def _check_journal(journal: Journal, settings: UploadSettings) -> None:
    """Refuse, before anything is sent, a journal that would overwrite a file it must not."""
    name = settings.journal or str(journal.path)
    if is_input(journal.path, settings.paths):
        # The journal is appended to while the input is read, batch by batch: it cannot
        # wait for the end of the input, as the failure report does.
        raise UsageError(
            f"--journal {name} is also an input: it would be overwritten while being read",
            hint="give the journal a file of its own, or leave --journal out",
        )
    if settings.journal and journal.belongs_elsewhere():
        raise UsageError(
            f"--journal {name} is not the journal of project {settings.project} on "
            f"{journal.url}; it is left as it is",
            hint="give each project a journal of its own, or leave --journal out",
        )


def _failure_report(path: str | None, inputs: Iterable[str], keep: int) -> FailureReport:
    """The --failures report; it may be an input (the fix-and-retry loop): it is then
    replaced only once the input was read to its end."""
    from lsimport.report.failures import FailureReport

    if path is None:
        return FailureReport(None, keep=keep)
    return FailureReport(Path(path), keep=keep, replaces_input=is_input(path, inputs))


def run_upload(settings: UploadSettings, env: Environment) -> ExitStatus:
    """`lsimport upload`: the files' records through upload_records, then the summary."""
    from lsimport.report.reporters import render_upload

    sources = check_sources(list(settings.paths))
    outcome = upload_records(
        lambda config: _records(sources, settings, env, config),
        settings,
        env,
        journal_anchor=settings.paths[0],
    )
    summary = outcome.summary
    write_notes(outcome.notes, env)
    render_upload(
        summary, outcome.failures, settings.output, env.stdout, env.stderr, project=settings.project
    )
    write_ids_line(outcome.ids, settings.output, env)
    if outcome.fatal is not None:
        env.stderr.write(f"lsimport: error: {outcome.fatal}\n")
        return ExitStatus.SERVER
    return upload_status(summary)


def open_ids(path: str | None, inputs: Iterable[str]) -> IdsFile | None:
    """The --ids file to fill, never one of the inputs."""
    if path is None:
        return None
    from lsimport.send.ids import IdsFile, check_ids_path

    check_ids_path(path, inputs)
    return IdsFile(path)


def write_ids(ids: IdsFile, fatal: ServerError | None, fill: Callable[[], None]) -> None:
    """Complete the --ids file (`fill` adds what only the server knows), or remove it when
    the server stopped the run."""
    if fatal is not None:
        ids.abandon()
        return
    try:
        fill()
    except BaseException:
        ids.abandon()
        raise
    ids.finish()


def write_ids_line(ids: IdsFile | None, output: str, env: Environment) -> None:
    if ids is not None and output == "text":
        env.stdout.write(f"task ids: {ids.path} ({ids.written} record(s) in the project)\n")


def write_notes(notes: ExportNotes, env: Environment) -> None:
    """What exports left out, once per kind, on stderr (upload prints no warnings)."""
    for line in notes.lines():
        env.stderr.write(f"lsimport: note: {line}\n")


def upload_status(summary: UploadSummary) -> ExitStatus:
    """The exit status an upload's summary stands for (no fatal error)."""
    if summary.interrupted:
        return ExitStatus.INTERRUPTED
    if summary.pending:
        return ExitStatus.PENDING
    bad = summary.invalid or summary.failed or summary.file_errors
    return ExitStatus.INVALID if bad else ExitStatus.OK


def flush_interval(paths: Iterable[str], asked: float | None) -> float | None:
    """The flush interval in effect: as asked (0: off), else on for stdin and pipes, whose
    producer may write a task now and then, and off for files, which are read at full speed."""
    if asked is not None:
        return asked or None
    piped = any(p == "-" or not _is_regular_file(p) for p in paths)
    return DEFAULT_FLUSH_INTERVAL if piped else None


def _is_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # not a file on disk (a project copied, records in memory): no pipe


# Concurrent imports, chosen from the server when --workers is not given (measured, 2 cores,
# 10,000 tasks with predictions): Django's dev server on SQLite is fastest with 1 (608-759/s;
# 3 workers: 196/s) and drops predictions under concurrency; PostgreSQL behind 3 gunicorn
# workers went 543/s with 1, 875/s with 2, 750/s with 4 (bench/bench_postgres.py).
MAX_AUTO_WORKERS = 2


def default_workers(server_software: str | None) -> int:
    """1 for Label Studio's single-process dev server, 2 for anything deployed."""
    if is_dev_server(server_software):
        return 1
    return MAX_AUTO_WORKERS


# Tasks per request. The dev server does one request at a time at full CPU, and each request
# costs it about 75 ms besides its tasks (measured, 1.23.2, SQLite: 10,000 tasks in batches of
# 100 took 15.8 s, of 1,000 9.0 s): 2,500 a request was 2-5% faster than 1,000 there.
# Anything deployed may sit behind a gateway whose timeout a bigger batch could outlast (and
# two requests at a time there gained nothing from bigger ones, on PostgreSQL + gunicorn).
DEV_SERVER_BATCH_SIZE = 2500
DEPLOYED_BATCH_SIZE = 1000


def default_batch_size(server_software: str | None) -> int:
    """Tasks per import request when --batch-size is not given (see DEV_SERVER_BATCH_SIZE)."""
    return DEV_SERVER_BATCH_SIZE if is_dev_server(server_software) else DEPLOYED_BATCH_SIZE


def is_dev_server(server_software: str | None) -> bool:
    """Label Studio's single-process dev server (`label-studio start`), from the `Server`
    header of its answers ("WSGIServer/0.2 CPython/..."); None: it did not say."""
    return server_software is None or server_software.startswith("WSGIServer")


def _read(sources: list[Source], fmt: Format | None, env: Environment) -> Iterator[Record]:
    for source in sources:
        yield from iter_source(source, fmt=fmt, stdin=env.stdin)


def _records(
    sources: list[Source], settings: UploadSettings, env: Environment, config: LabelConfig | None
) -> Iterator[Record]:
    for source in sources:
        records = iter_source(source, fmt=settings.fmt, stdin=env.stdin)
        if settings.preannotated_from_fields:
            from lsimport.check.preannotate import preannotate

            assert config is not None
            records = preannotate(
                records, config, settings.preannotated_from_fields, settings.model_version
            )
        yield from records


def _count_hint(paths: Iterable[str]) -> int | None:
    """Records in plain JSONL files, counted by lines (fast), for the progress ETA."""
    total = 0
    for path in paths:
        if path == "-" or path.endswith(".gz") or not path.endswith((".jsonl", ".ndjson")):
            return None
        with open(path, "rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total or None


def run_whoami(connection: Connection, output: str, env: Environment) -> ExitStatus:
    """Who the token belongs to, on which server, with which kind of token."""
    import orjson

    from lsimport.send.auth import token_kind
    from lsimport.send.client import LabelStudioClient

    with LabelStudioClient(
        connection.url, connection.api_key, **connection.client_options()
    ) as client:
        user = client.whoami()
    kind = token_kind(connection.api_key)
    info = {
        "url": connection.display_url,
        "token_kind": "personal access token" if kind == "pat" else "legacy token",
        "id": user.get("id"),
        "email": user.get("email"),
        "username": user.get("username"),
    }
    if output == "json":
        env.stdout.write(orjson.dumps(info).decode() + "\n")
    else:
        env.stdout.write(
            f"{info['email'] or info['username']} (user {info['id']}) on {info['url']}, "
            f"with a {info['token_kind']}\n"
        )
    return ExitStatus.OK


def select_model_version(
    client: Any, project: int, version: str, summary: PredictionSummary
) -> None:
    """Make `version` the project's selected model version, so its predictions show.

    The server refuses a version no prediction carries yet, hence after importing, and only
    when this run created or found predictions stamped with it.
    """
    from lsimport.errors import RequestRejected

    if summary.predictions_created + summary.skipped == 0:
        summary.model_version_set = False
        summary.model_version_note = (
            f"no prediction with model version {version!r} was attached or found, "
            "so the project's model version was left as it is"
        )
        return
    try:
        client.update_project(project, {"model_version": version})
    except RequestRejected as exc:
        summary.model_version_set = False
        summary.model_version_note = f"could not select model version {version!r}: {exc.message}"
        return
    summary.model_version_set = True


@dataclass
class PredictionOutcome:
    """What one predictions run did: the counts, the failures, a fatal error."""

    summary: PredictionSummary
    failures: FailureReport
    fatal: ServerError | None
    notes: ExportNotes = field(default_factory=ExportNotes)  # what exports left out
    ids: IdsFile | None = None  # --ids, written


def attach_records(
    records: Iterable[Record],
    settings: PredictionSettings,
    env: Environment,
    *,
    keep: int = 20,
    handle_signals: bool = True,
) -> PredictionOutcome:
    """Attach every valid, matched prediction to its task, once. The CLI and the library API
    (lsimport.attach_predictions) both come here."""
    from lsimport.read.predictions import iter_prediction_items
    from lsimport.report.progress import make_progress
    from lsimport.send.predictions import (
        KnownPredictions,
        PredictionImporter,
        PredictionSender,
        ProjectTasks,
    )
    from lsimport.send.replace import Replacement
    from lsimport.send.sender import Pace

    conn = settings.connection
    ids_file = open_ids(settings.ids, settings.paths)
    client = build_client(conn, env)
    failures = _failure_report(settings.failures, settings.paths, keep)
    notes = ExportNotes()
    replacement = Replacement() if settings.replace else None
    with client:
        project = client.get_project(settings.project)
        config = None
        if settings.config_check:
            config = parse_label_config(
                project.get("label_config") or "", source=f"project {settings.project}"
            )
        tasks = ProjectTasks.load(client, settings.project, settings.match_path)
        # A project that says it has no predictions needs no read to skip what is there.
        if project.get("total_predictions_number") == 0:
            known = KnownPredictions()
        else:
            known = KnownPredictions.load(
                client, settings.project, expected=_int(project.get("total_predictions_number"))
            )
        show = env.stderr_is_tty and not settings.quiet
        progress = make_progress(
            env.stderr,
            enabled=show,
            total_records=_count_hint(settings.paths) if show else None,
            label="predictions",
            noun="predictions",
        )
        stop = threading.Event()
        sender = PredictionSender(
            client,
            settings.project,
            task_ids=tasks.task_ids,
            pace=Pace(settings.settle_timeout),
            clock=env.clock,
            sleep=env.sleep,
            stop=stop,
            project_predictions=max(len(known), _int(project.get("total_predictions_number"))),
        )
        importer = PredictionImporter(
            sender,
            tasks,
            known,
            TaskChecker(config),
            failures=failures,
            progress=progress,
            model_version=settings.model_version,
            batch_size=settings.batch_size,
            max_batch_bytes=settings.max_batch_bytes,
            strict=settings.strict,
            clock=env.clock,
            on_placed=placed_sink(ids_file, replacement),
            stop=stop,
            flush_interval=flush_interval(settings.paths, settings.flush_interval),
        )
        records = iter_import_records(
            records, control_names=control_names(config), keep_id=True, notes=notes
        )
        complete = False
        restore = _install_stop_handlers(stop) if handle_signals else (lambda: None)
        try:
            with progress:
                summary = importer.run(iter_prediction_items(records))
            complete = not summary.interrupted  # after a fatal error the rest is still read
        finally:
            restore()
            failures.close(complete=complete)
        if replacement is not None and importer.fatal is None:
            summary.replaced = replacement.remove_older(client, settings.project)
        if ids_file is not None:
            write_ids(ids_file, importer.fatal, lambda: None)
        if settings.set_project_model_version and settings.model_version and importer.fatal is None:
            select_model_version(client, settings.project, settings.model_version, summary)
    return PredictionOutcome(summary, failures, importer.fatal, notes, ids_file)


def placed_sink(ids: IdsFile | None, replacement: Replacement | None) -> PlacedSink | None:
    """What hears of each prediction now on its task: the --ids file, --replace."""
    if ids is None and replacement is None:
        return None

    def placed(
        file: str, record: int, line: int, task: int, payload: dict[str, Any], fp: bytes
    ) -> None:
        if ids is not None:
            ids.place(file, record, line, fp.hex(), task)
        if replacement is not None:
            replacement.placed(file, record, line, task, payload, fp)

    return placed


def run_predictions(settings: PredictionSettings, env: Environment) -> ExitStatus:
    """`lsimport predictions`: the files' records through attach_records, then the summary."""
    from lsimport.report.reporters import render_predictions

    sources = check_sources(list(settings.paths))
    outcome = attach_records(_read(sources, settings.fmt, env), settings, env)
    summary = outcome.summary
    write_notes(outcome.notes, env)
    render_predictions(
        summary,
        outcome.failures,
        settings.output,
        env.stdout,
        env.stderr,
        project=settings.project,
        model_version=settings.model_version,
    )
    write_ids_line(outcome.ids, settings.output, env)
    if outcome.fatal is not None:
        env.stderr.write(f"lsimport: error: {outcome.fatal}\n")
        return ExitStatus.SERVER
    if summary.interrupted:
        return ExitStatus.INTERRUPTED
    if summary.pending:
        return ExitStatus.PENDING
    return ExitStatus.OK if summary.ok else ExitStatus.INVALID


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def run_verify(settings: VerifySettings, env: Environment) -> ExitStatus:
    """`lsimport verify`: read the project back once, then every input record against it."""
    from lsimport.report.verify import VerifyReporter
    from lsimport.send.verify import ProjectIndex, Verifier

    sources = check_sources(list(settings.paths))
    conn = settings.connection
    client = build_client(conn, env)
    with client:
        project = client.get_project(settings.project)
        config = parse_label_config(
            project.get("label_config") or "", source=f"project {settings.project}"
        )
        index = ProjectIndex.load(client, settings.project, settings.match_path)
    verifier = Verifier(index, settings.project)
    reporter = VerifyReporter(settings.output, env.stdout, project=settings.project)
    for source in sources:
        verifier.see_file(source.name)
        records = iter_source(source, fmt=settings.fmt, stdin=env.stdin)
        records = iter_import_records(records, control_names=control_names(config))
        for verdict in verifier.run(records):
            reporter.verdict(verdict)
    summary = verifier.finish(project)
    reporter.finish(summary)
    return ExitStatus.OK if summary.ok else ExitStatus.INVALID


def run_copy(settings: CopySettings, env: Environment) -> ExitStatus:
    """`lsimport copy`: the source project's tasks, streamed through upload_records."""
    import hashlib

    from lsimport.report.reporters import render_upload
    from lsimport.send.copy import iter_project_records

    src, conn = settings.source, settings.connection
    source_client = build_client(src, env)
    with source_client:
        source = source_client.get_project(settings.from_project)
        target = settings.project
        if target is None:
            target = target_project(settings, source.get("label_config") or "", env)
        name = f"project {settings.from_project}"
        where = f"{src.url}|{settings.from_project}|{conn.url}|{target}"
        journal = _state_dir(env) / (
            f"copy-{hashlib.sha256(where.encode()).hexdigest()[:16]}.lsimport-journal"
        )
        upload = UploadSettings(
            paths=(name,),
            project=target,
            connection=conn,
            batch_size=settings.batch_size,
            max_batch_bytes=settings.max_batch_bytes,
            workers=settings.workers,
            dry_run=settings.dry_run,
            journal=str(journal),
            failures=settings.failures,
            output=settings.output,
            quiet=settings.quiet,
            strict=settings.strict,
            ids=settings.ids,
        )
        outcome = upload_records(
            lambda config: iter_project_records(source_client, settings.from_project, name),
            upload,
            env,
            journal_anchor=None,
        )
    write_notes(outcome.notes, env)
    render_upload(
        outcome.summary, outcome.failures, settings.output, env.stdout, env.stderr, project=target
    )
    write_ids_line(outcome.ids, settings.output, env)
    if outcome.fatal is not None:
        env.stderr.write(f"lsimport: error: {outcome.fatal}\n")
        return ExitStatus.SERVER
    return upload_status(outcome.summary)


def target_project(settings: CopySettings, label_config: str, env: Environment) -> int:
    """The project titled --create-project on the target: made with the source's labeling
    config, or the one of that title already there (a rerun copies into it)."""

    title = settings.create_project or ""
    conn = settings.connection
    with build_client(conn, env) as client:
        same = [p for p in client.iter_projects(title=title) if p.get("title") == title]
        if len(same) > 1:
            ids = ", ".join(str(p.get("id")) for p in same)
            raise UsageError(
                f"{len(same)} projects are titled {title!r} (ids {ids})",
                hint="name the target with --project ID",
            )
        if same and isinstance(same[0].get("id"), int):
            pid: int = same[0]["id"]
            if not settings.quiet:
                env.stderr.write(f"lsimport: copying into project {pid} {title!r} (there)\n")
            return pid
        if settings.dry_run:
            raise UsageError(
                f"--dry-run: no project is titled {title!r} yet, and a dry run creates none"
            )
        made = client.create_project(title, label_config)
    made_id = made.get("id")
    if not isinstance(made_id, int):
        raise ServerError("the server created the project but gave no id for it")
    pid = made_id
    if not settings.quiet:
        env.stderr.write(
            f"lsimport: created project {pid} {title!r} with the labeling config of project "
            f"{settings.from_project}\n"
        )
    return pid


def run_convert(settings: ConvertSettings, env: Environment) -> ExitStatus:
    """Model output -> tasks as JSONL; each task is checked before it is written."""
    import orjson

    from lsimport.convert import open_conversion
    from lsimport.convert.config import generate_config
    from lsimport.report.progress import make_progress
    from lsimport.report.reporters import TextReporter, convert_summary_line

    config: LabelConfig | None = None
    if settings.label_config:
        config = load_label_config(settings.label_config)
    elif settings.project is not None and settings.connection is not None:
        config = fetch_label_config(settings.connection, settings.project)
    conversion = open_conversion(settings.fmt, list(settings.paths), settings.options, config)
    out = Path(settings.output) if settings.output else None
    if out is not None:
        _refuse_overwriting(out, [Path(p) for p in settings.paths], conversion.inputs())
    if settings.config_out:
        try:
            Path(settings.config_out).write_text(
                generate_config(conversion.plan, conversion.targets), "utf-8"
            )
        except OSError as exc:
            raise UsageError(f"--config-out {settings.config_out}: {exc.strerror}") from exc
    reporter = TextReporter(env.stderr)
    tally = Tally(count_files=False)
    written = regions = 0
    show = env.stderr_is_tty and not settings.quiet
    progress = make_progress(env.stderr, enabled=show, label="convert", noun="tasks")
    with _jsonl_sink(out, env) as write, progress:
        for rec in conversion.records():
            tally.add(rec)
            progress.advance(1)
            if rec.findings:
                reporter.record(rec)
            if rec.task is not None and not rec.has_errors:
                write(orjson.dumps(rec.task) + b"\n")
                written += 1
                regions += sum(len(p["result"]) for p in rec.task.get("predictions", ()))
                progress.created(1)
    if not settings.quiet or not tally.summary.ok:
        env.stderr.write(
            convert_summary_line(tally.summary, written, regions, settings.output or "stdout")
            + "\n"
        )
    return ExitStatus.OK if tally.summary.ok else ExitStatus.INVALID


def _refuse_overwriting(out: Path, given: list[Path], read: Iterable[Path | str]) -> None:
    """-o must not be a file the conversion reads, nor an existing file inside an input."""
    target = os.path.realpath(out)
    for path in read:
        if os.path.realpath(path) == target:
            raise UsageError(f"-o {out}: that is one of the input files; write elsewhere")
    for given_path in given:
        top = given_path.resolve()
        if str(top) == target or (
            top.is_dir() and os.path.exists(target) and Path(target).is_relative_to(top)
        ):
            raise UsageError(f"-o {out}: that would overwrite a file of the input {given_path}")


@contextmanager
def _jsonl_sink(out: Path | None, env: Environment) -> Iterator[Callable[[bytes], object]]:
    """stdout, or a temporary file beside `out` renamed onto it once everything is written
    (an interrupted run leaves the old file, never half a new one)."""
    if out is None:
        buffer = getattr(env.stdout, "buffer", None)
        if buffer is not None:
            env.stdout.flush()
            yield buffer.write
            buffer.flush()
        else:
            yield lambda b: env.stdout.write(b.decode())
        return
    import tempfile  # lazy: start-up time (with random, 1.7 ms)

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or ".")
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot write there: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh.write
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
