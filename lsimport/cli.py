"""The command line: options become a settings object handed to lsimport.run.

Besides, two things for start-up time only: typer is given the named command alone
(_app_for), and the collector, paused by lsimport/__main__.py, resumes when a command runs.
"""

from __future__ import annotations

import gc
import os
import sys
from copy import copy as shallow_copy
from typing import Annotated, Literal, NoReturn

import typer
from typer.main import get_command_name

from lsimport import __version__
from lsimport.environment import Environment
from lsimport.errors import ExitStatus, LsImportError

# Defaults chosen from measurement (bench/, LABEL_STUDIO.md): see README "Benchmarks".
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
app = typer.Typer(
    name="lsimport",
    help="Validate task files and import tasks and predictions into Label Studio, exactly once.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Input format: json, jsonl, csv or tsv. Default: from the extension, or sniffed.",
        metavar="FORMAT",
    ),
]
OutputOpt = Annotated[
    str, typer.Option("--output", "-o", help="text, json or github (Actions annotations).")
]
TaskPaths = Annotated[
    list[str],
    typer.Argument(
        help="Task files (json, jsonl, csv, tsv, .gz), or - for stdin.", metavar="PATH..."
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", envvar="LABEL_STUDIO_URL", help="Label Studio URL.", show_envvar=True),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="LABEL_STUDIO_API_KEY",
        help="Personal access token or legacy token.",
        show_envvar=True,
        show_default=False,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Seconds to wait for the server's answer (default: 300 for imports, 10 to connect).",
        show_default=False,
    ),
]
IdsOpt = Annotated[
    str | None,
    typer.Option(
        "--ids",
        help="Write which task each record is (JSONL: file, record, line, key, task), for the "
        "records now in the project, created or skipped.",
        metavar="FILE",
    ),
]
SettleTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--settle-timeout",
        help="Seconds a request whose answer was lost (a gateway's 502/504, a timeout) may "
        "still be saving, looked at again before it is sent again (default: from how long "
        "this server's requests take).",
        show_default=False,
        metavar="SECONDS",
    ),
]
FlushIntervalOpt = Annotated[
    float | None,
    typer.Option(
        "--flush-interval",
        help="Send a batch once it has waited this long, full or not (default: 5 for stdin "
        "and pipes, off for files; 0: off).",
        show_default=False,
        metavar="SECONDS",
    ),
]
CaBundleOpt = Annotated[
    str | None,
    typer.Option("--ca-bundle", help="CA bundle file for a private certificate authority."),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        help="Tasks per import request (default: 2500 on Label Studio's dev server, 1000 "
        "on deployed servers).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lsimport {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Validate task files and import tasks and predictions into Label Studio, exactly once."""


def _jobs(value: str) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter("must be auto or a number", param_hint="--jobs") from None


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"must be one of {', '.join(allowed)}", param_hint=option)
    return value


def _environment() -> Environment:
    """The world of a command whose imports are done.

    The objects start-up made (imports, typer's commands) live to the end: they are frozen,
    so that neither the collections during the run nor the one at exit walk them (18 ms of a
    one-record `validate`'s 137 ms). The collector is paused until now by lsimport/__main__.py.
    """
    if not gc.isenabled():  # (an in-process caller of cli.main keeps its collector as it is)
        gc.freeze()
        gc.enable()
    return Environment()


def _finish(status: ExitStatus) -> NoReturn:
    raise typer.Exit(int(status))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport validate tasks.jsonl --label-config config.xml\n\n"
        "  cat tasks.json | lsimport validate - --output json | jq .invalid\n\n"
        "  lsimport validate data/*.csv --project 12 --strict --output github"
    )
)
def validate(
    paths: TaskPaths,
    fmt: FormatOpt = None,
    label_config: Annotated[
        str | None,
        typer.Option("--label-config", "-c", help="Labeling config XML file to check against."),
    ] = None,
    project: Annotated[
        int | None,
        typer.Option("--project", "-p", help="Check against this project's config (read-only)."),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: OutputOpt = "text",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing when all is valid.")
    ] = False,
    jobs: Annotated[
        str,
        typer.Option(
            "--jobs",
            "-j",
            help="Processes for big JSONL files: a number, or auto (one per idle core).",
        ),
    ] = "auto",
    preannotated_from_fields: Annotated[
        str | None,
        typer.Option(
            "--preannotated-from-fields",
            help="Check flat inference output as upload will turn it into predictions.",
        ),
    ] = None,
    max_findings: Annotated[
        int,
        typer.Option(
            "--max-findings",
            help="Findings printed per code before the rest are only counted (text, github).",
            metavar="N",
        ),
    ] = 20,  # lsimport.settings.MAX_FINDINGS (not imported: start-up time)
    all_findings: Annotated[
        bool, typer.Option("--all-findings", help="Print every finding (text, github).")
    ] = False,
) -> None:
    """Check task files against the task format and a labeling config; send nothing.

    Exit 0 when no record has an error, 1 when some do, 2 for usage errors.
    """
    from lsimport.run import run_validate
    from lsimport.settings import ValidateSettings, resolve_connection

    env = _environment()
    connection = (
        resolve_connection(url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout)
        if project is not None
        else None
    )
    settings = ValidateSettings(
        paths=tuple(paths),
        fmt=_choice(fmt, ("json", "jsonl", "csv", "tsv"), "--format"),  # type: ignore[arg-type]
        label_config=label_config,
        project=project,
        connection=connection,
        strict=strict,
        output=_choice(output, ("text", "json", "github"), "--output"),  # type: ignore[arg-type]
        quiet=quiet,
        jobs=_jobs(jobs),
        preannotated_from_fields=_fields(preannotated_from_fields),
        max_findings=None if all_findings else max_findings,
    )
    _finish(run_validate(settings, env))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport upload tasks.jsonl --project 12\n\n"
        "  python infer.py | lsimport upload - --project 12 --output json | jq .tasks_created\n\n"
        "  lsimport upload preds.csv -p 12 --preannotated-from-fields label,score "
        "--model-version v3\n\n"
        "  lsimport upload tasks.json -p 12 --failures failed.jsonl; "
        "lsimport upload failed.jsonl -p 12\n\n"
        "  lsimport upload tasks.jsonl -p 12 --ids ids.jsonl; jq -r .task ids.jsonl"
    )
)
def upload(
    paths: TaskPaths,
    project: Annotated[int, typer.Option("--project", "-p", help="Project id to import into.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    fmt: FormatOpt = None,
    no_config_check: Annotated[
        bool, typer.Option("--no-config-check", help="Skip checks against the project's config.")
    ] = False,
    batch_size: BatchSizeOpt = None,
    max_batch_bytes: Annotated[
        int, typer.Option("--max-batch-bytes", help="Bytes per import request (proxies cap it).")
    ] = DEFAULT_BATCH_BYTES,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Concurrent import requests (default: 1 on Label Studio's dev server, 2 on "
            "deployed servers).",
            show_default=False,
        ),
    ] = None,
    preannotated_from_fields: Annotated[
        str | None,
        typer.Option(
            "--preannotated-from-fields",
            help="Flat inference output: LABEL[,SCORE] columns/keys turned into predictions.",
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Set model_version on every prediction.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything against the live project but write.")
    ] = False,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Task key from data.FIELD (default: a hash of data)."),
    ] = None,
    allow_duplicates: Annotated[
        bool, typer.Option("--allow-duplicates", help="Import tasks even if already there.")
    ] = False,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe",
            help="Skip a record whose data is already in the project or earlier in the input.",
        ),
    ] = False,
    journal: Annotated[
        str | None, typer.Option("--journal", help="Journal file (default: beside the input).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the journal (fails if there is none).")
    ] = False,
    failures: Annotated[
        str | None, typer.Option("--failures", help="Write records that did not get in (JSONL).")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ids: IdsOpt = None,
    settle_timeout: SettleTimeoutOpt = None,
    flush_interval: FlushIntervalOpt = None,
) -> None:
    """Import every valid task, with its predictions, into a project: exactly once.

    Exit 0 when every record got in (or was already there), 1 when some did not (the rest
    did), 2 for usage errors, 3 when the server cannot be used, 75 when what some requests
    did is still unknown (run the same command again), 130 when interrupted.
    """
    from lsimport.run import run_upload
    from lsimport.settings import UploadSettings, resolve_connection

    env = _environment()
    settings = UploadSettings(
        paths=tuple(paths),
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        ),
        fmt=_choice(fmt, ("json", "jsonl", "csv", "tsv"), "--format"),  # type: ignore[arg-type]
        config_check=not no_config_check,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        workers=workers,
        preannotated_from_fields=_fields(preannotated_from_fields),
        model_version=model_version,
        dry_run=dry_run,
        key=key,
        allow_duplicates=allow_duplicates,
        dedupe=dedupe,
        journal=journal,
        resume=resume,
        failures=failures,
        output=_choice(output, ("text", "json"), "--output"),  # type: ignore[arg-type]
        quiet=quiet,
        strict=strict,
        ids=ids,
        settle_timeout=settle_timeout,
        flush_interval=flush_interval,
    )
    _finish(run_upload(settings, env))


def _fields(value: str | None) -> tuple[str, ...]:
    return tuple(f.strip() for f in value.split(",") if f.strip()) if value else ()


@app.command(epilog="Example:\n\n  LABEL_STUDIO_URL=http://localhost:8080 lsimport whoami")
def whoami(
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Check the URL and token: say who you are, or exactly what is wrong (exit 3)."""
    from lsimport.run import run_whoami
    from lsimport.settings import resolve_connection

    env = _environment()
    connection = resolve_connection(url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout)
    _finish(run_whoami(connection, _choice(output, ("text", "json"), "--output") or "text", env))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport predictions preds.jsonl --project 12 --model-version v3 "
        "--set-project-model-version\n\n"
        "  python infer.py | lsimport predictions - -p 12 --match-on data.image "
        "--output json | jq .predictions_created\n\n"
        "  lsimport predictions preds.csv -p 12 --failures failed.jsonl; "
        "lsimport predictions failed.jsonl -p 12\n\n"
        "  lsimport predictions rerun.json -p 12 --match-on data.image --model-version v3 "
        "--replace"
    )
)
def predictions(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Prediction files (json, jsonl, csv, tsv, .gz), or - for stdin.",
            metavar="PATH...",
        ),
    ],
    project: Annotated[int, typer.Option("--project", "-p", help="Project the tasks are in.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    fmt: FormatOpt = None,
    match_on: Annotated[
        str | None,
        typer.Option(
            "--match-on",
            help="Find each record's task by this data field (e.g. data.image) instead of `task`.",
            metavar="data.FIELD",
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Set model_version on every prediction.")
    ] = None,
    set_project_model_version: Annotated[
        bool,
        typer.Option(
            "--set-project-model-version",
            help="Afterwards make --model-version the project's selected version (so the "
            "predictions show in the labeling view).",
        ),
    ] = False,
    no_config_check: Annotated[
        bool, typer.Option("--no-config-check", help="Skip checks against the project's config.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Predictions per import request.")
    ] = 5000,  # lsimport.predictions.DEFAULT_BATCH_SIZE (not imported: start-up time)
    max_batch_bytes: Annotated[
        int, typer.Option("--max-batch-bytes", help="Bytes per import request (proxies cap it).")
    ] = DEFAULT_BATCH_BYTES,
    failures: Annotated[
        str | None,
        typer.Option("--failures", help="Write predictions that did not get in (JSONL)."),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="On each matched task, remove the older predictions of the same model "
            "version once the new one is in.",
        ),
    ] = False,
    ids: IdsOpt = None,
    settle_timeout: SettleTimeoutOpt = None,
    flush_interval: FlushIntervalOpt = None,
) -> None:
    """Attach model predictions to tasks already in a project: each one once.

    Records are predictions naming their task (`task` or --match-on), or tasks holding
    `predictions` (Label Studio's JSON format, its exports too): each of those is attached
    to the task matched by --match-on or by the record's `id`.

    Exit 0 when every prediction got in (or was already there), 1 when some did not (the
    rest did), 2 for usage errors, 3 when the server cannot be used, 75 when what some
    requests did is still unknown (run the same command again), 130 when interrupted.
    """
    from lsimport.run import run_predictions
    from lsimport.settings import PredictionSettings, resolve_connection

    env = _environment()
    settings = PredictionSettings(
        paths=tuple(paths),
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        ),
        fmt=_choice(fmt, ("json", "jsonl", "csv", "tsv"), "--format"),  # type: ignore[arg-type]
        match_on=match_on,
        model_version=model_version,
        set_project_model_version=set_project_model_version,
        config_check=not no_config_check,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        failures=failures,
        strict=strict,
        output=_choice(output, ("text", "json"), "--output"),  # type: ignore[arg-type]
        quiet=quiet,
        replace=replace,
        ids=ids,
        settle_timeout=settle_timeout,
        flush_interval=flush_interval,
    )
    _finish(run_predictions(settings, env))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport verify tasks.jsonl --project 12\n\n"
        "  lsimport verify export.json -p 12 --match-on data.image --output json | jq .missing\n\n"
        "  lsimport verify data/*.csv -p 12 --output github"
    )
)
def verify(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Task files (json, jsonl, csv, tsv, .gz), or - for stdin.", metavar="FILE..."
        ),
    ],
    project: Annotated[int, typer.Option("--project", "-p", help="Project to check against.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    fmt: FormatOpt = None,
    match_on: Annotated[
        str | None,
        typer.Option(
            "--match-on",
            help="Find each record's task by this data field instead of by all of its data.",
            metavar="data.FIELD",
        ),
    ] = None,
    output: OutputOpt = "text",
) -> None:
    """Check that every record is in the project exactly once, with its predictions.

    Reads the project back (read-only) and lists each record that is missing, present more
    than once, or present with other predictions, and what hides predictions project-wide.
    Exit 0 when exact, 1 when not, 2 for usage errors, 3 when the server cannot be used.
    """
    from lsimport.run import run_verify
    from lsimport.settings import VerifySettings, resolve_connection

    env = _environment()
    settings = VerifySettings(
        paths=tuple(paths),
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        ),
        fmt=_choice(fmt, ("json", "jsonl", "csv", "tsv"), "--format"),  # type: ignore[arg-type]
        match_on=match_on,
        output=_choice(output, ("text", "json", "github"), "--output"),  # type: ignore[arg-type]
    )
    _finish(run_verify(settings, env))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport copy --from-project 3 --project 12\n\n"
        "  lsimport copy --from-project 3 --create-project 'Reviews (copy)'\n\n"
        "  LABEL_STUDIO_FROM_API_KEY=... lsimport copy --from-url https://old.example.com "
        "--from-project 3 --project 12"
    )
)
def copy(
    from_project: Annotated[
        int, typer.Option("--from-project", help="Project to copy from.", show_default=False)
    ],
    project: Annotated[
        int | None, typer.Option("--project", "-p", help="Project to copy into.")
    ] = None,
    create_project: Annotated[
        str | None,
        typer.Option(
            "--create-project",
            help="Copy into a project of this title, made with the source's labeling config "
            "(reused when it is there).",
            metavar="TITLE",
        ),
    ] = None,
    from_url: Annotated[
        str | None,
        typer.Option("--from-url", help="The source's Label Studio URL (default: --url)."),
    ] = None,
    from_api_key: Annotated[
        str | None,
        typer.Option(
            "--from-api-key",
            envvar="LABEL_STUDIO_FROM_API_KEY",
            help="The source's token (default: --api-key, when on the same server).",
            show_envvar=True,
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    batch_size: BatchSizeOpt = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Concurrent import requests.", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything against the projects but write.")
    ] = False,
    failures: Annotated[
        str | None, typer.Option("--failures", help="Write tasks that did not get in (JSONL).")
    ] = None,
    ids: IdsOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Copy a project's tasks, with annotations and predictions, into another project.

    On the same server or another one; annotators are matched by email; a rerun copies
    nothing. Exit codes as for upload.
    """
    from lsimport.run import run_copy
    from lsimport.settings import CopySettings, resolve_connection, resolve_source

    env = _environment()
    connection = resolve_connection(url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout)
    settings = CopySettings(
        from_project=from_project,
        source=resolve_source(from_url, from_api_key, connection, env.environ),
        connection=connection,
        project=project,
        create_project=create_project,
        batch_size=batch_size,
        workers=workers,
        dry_run=dry_run,
        failures=failures,
        ids=ids,
        strict=strict,
        output=_choice(output, ("text", "json"), "--output"),  # type: ignore[arg-type]
        quiet=quiet,
    )
    _finish(run_copy(settings, env))


@app.command(
    epilog=(
        "Examples:\n\n"
        "  lsimport convert yolo runs/detect/predict --classes cat,dog | "
        "lsimport upload - --project 3\n\n"
        "  lsimport convert coco instances.json results.json -o tasks.jsonl "
        "--config-out config.xml\n\n"
        "  lsimport convert masks masks/ --classes 1=road,2=car --label-config config.xml"
    )
)
def convert(
    fmt: Annotated[str, typer.Argument(help="yolo, coco, masks, mot or hf.", metavar="FORMAT")],
    paths: Annotated[
        list[str], typer.Argument(help="The dataset directory or files.", metavar="INPUT...")
    ],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the tasks here (default: stdout).")
    ] = None,
    config_out: Annotated[
        str | None,
        typer.Option("--config-out", help="Write a labeling config that fits the tasks."),
    ] = None,
    label_config: Annotated[
        str | None,
        typer.Option("--label-config", "-c", help="Check against (and name controls from) it."),
    ] = None,
    project: Annotated[
        int | None, typer.Option("--project", "-p", help="Use this project's config (read-only).")
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    ca_bundle: CaBundleOpt = None,
    timeout: TimeoutOpt = None,
    from_name: Annotated[
        str | None, typer.Option("--from-name", help="Control name (default: the config's).")
    ] = None,
    to_name: Annotated[
        str | None, typer.Option("--to-name", help="Object name (default: the config's).")
    ] = None,
    image_root_url: Annotated[
        str | None,
        typer.Option(
            "--image-root-url", help="data.image = URL/file name, as label-studio-converter."
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Set model_version on every prediction.")
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option("--classes", help="Class names: a,b (ids 0, 1), 1=a,2=b, or a names file."),
    ] = None,
    obb: Annotated[
        bool, typer.Option("--obb", help="yolo: 8-coordinate lines are oriented boxes.")
    ] = False,
    image_ext: Annotated[
        str, typer.Option("--image-ext", help="masks: the image of mask STEM.png is STEM+EXT.")
    ] = ".jpg",
    framerate: Annotated[
        float | None, typer.Option("--framerate", help="mot: frames per second.")
    ] = None,
    video_size: Annotated[
        str | None, typer.Option("--video-size", help="mot: WIDTHxHEIGHT in pixels.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Findings only, no summary.")
    ] = False,
) -> None:
    """Turn model output into Label Studio tasks with predictions (JSONL), checked first.

    Exit 0 when every task was converted, 1 when some were not (the rest were written),
    2 for usage errors, 3 when the server cannot be used (--project).
    """
    from lsimport.run import run_convert
    from lsimport.settings import (
        ConvertOptions,
        ConvertSettings,
        parse_size,
        resolve_connection,
    )

    env = _environment()
    settings = ConvertSettings(
        fmt=_choice(fmt, ("yolo", "coco", "masks", "mot", "hf"), "FORMAT") or fmt,
        paths=tuple(paths),
        options=ConvertOptions(
            from_name=from_name,
            to_name=to_name,
            image_root_url=image_root_url,
            model_version=model_version,
            classes=classes,
            obb=obb,
            image_ext=image_ext,
            framerate=framerate,
            video_size=parse_size(video_size, "--video-size") if video_size else None,
        ),
        output=output,
        config_out=config_out,
        label_config=label_config,
        project=project,
        connection=resolve_connection(
            url, api_key, env.environ, ca_bundle=ca_bundle, timeout=timeout
        )
        if project is not None
        else None,
        quiet=quiet,
    )
    _finish(run_convert(settings, env))


@app.command()
def schema() -> None:
    """Print the JSON Schema of a Label Studio task that `validate` checks against.

    Example: lsimport schema > task.schema.json
    """
    from lsimport.check.structure import schema_text

    sys.stdout.write(schema_text())


# The exception typer raises for a usage error: click's ClickException up to typer 0.2x, the
# one of the click it vendors (typer._click) since; typer.TyperException exists only there.
# typer.BadParameter derives from it in every version pyproject allows.
USAGE_ERRORS: tuple[type[Exception], ...] = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def _app_for(argv: list[str]) -> typer.Typer:
    """The app; for `lsimport COMMAND ...`, the app with that command only.

    typer builds every command's click parameters at each start (16 ms of a one-record
    `validate`'s 137 ms); one command takes 3 ms. The command's help, usage and errors are
    the same either way; `lsimport --help` and unknown commands get the whole app.
    """
    if len(argv) > 1:
        for info in app.registered_commands:
            callback = info.callback
            name = info.name or (get_command_name(callback.__name__) if callback else None)
            if name == argv[1]:
                one = shallow_copy(app)
                one.registered_commands = [info]
                return one
    return app


def main() -> None:
    """Entry point: run the app, map lsimport's errors to exit codes, never a traceback."""
    try:
        status = _app_for(sys.argv)(standalone_mode=False)
    except LsImportError as exc:
        sys.stderr.write(f"lsimport: error: {exc}\n")
        status = int(exc.exit_status)
    except (KeyboardInterrupt, typer.Abort):
        sys.stderr.write("lsimport: interrupted\n")
        status = int(ExitStatus.INTERRUPTED)
    except USAGE_ERRORS as exc:  # unknown option, bad value, missing argument
        # One line, like every other error; `--help` is there for the full usage.
        command = " ".join(sys.argv[1:2]) if len(sys.argv) > 1 else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        sys.stderr.write(
            f"lsimport: error: {message} (see `lsimport {command} --help`)\n".replace("  ", " ")
        )
        status = int(ExitStatus.USAGE)
    except BrokenPipeError:
        # `lsimport validate big.jsonl | head`: the reader went away; that is not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = int(ExitStatus.OK)
    except Exception as exc:  # the one place an unexpected error is turned into a message
        if os.environ.get("LSIMPORT_DEBUG"):
            raise
        sys.stderr.write(
            f"lsimport: internal error: {type(exc).__name__}: {exc}\n"
            "  please report it; rerun with LSIMPORT_DEBUG=1 for the traceback\n"
        )
        status = int(ExitStatus.INTERNAL)
    sys.exit(status if isinstance(status, int) else 0)
