"""One function per command: settings + environment in, exit status out.

This is where the pipeline is assembled and visible: read -> check -> (batch -> send) ->
report. The CLI only builds settings and calls these.
"""

from __future__ import annotations

from lsimport.environment import Environment
from lsimport.errors import ExitStatus
from lsimport.labelconfig import LabelConfig, load_label_config, parse_label_config
from lsimport.readers import check_sources, iter_source
from lsimport.reporters import validation_reporter
from lsimport.rules import TaskChecker
from lsimport.settings import Connection, ValidateSettings
from lsimport.validate import Tally, check_records


def fetch_label_config(connection: Connection, project: int) -> LabelConfig:
    """The live project's labeling config (read-only)."""
    from lsimport.client import LabelStudioClient  # lazy: httpx costs start-up time

    with LabelStudioClient(connection.url, connection.api_key, verify=connection.verify) as client:
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
    reporter = validation_reporter(settings.output, env.stdout, quiet=settings.quiet)
    tally = Tally()
    for source in sources:
        tally.see_file(source.name)
        records = iter_source(source, fmt=settings.fmt, stdin=env.stdin)
        for rec in check_records(records, checker, strict=settings.strict):
            tally.add(rec)
            if rec.findings:
                reporter.record(rec)
    reporter.finish(tally.summary)
    return ExitStatus.OK if tally.summary.ok else ExitStatus.INVALID
