"""Peak memory of `lsimport validate` on a big file in each format: streaming must stay flat.

`lsimport upload --dry-run` needs a server, so validate stands in for the read -> check
path both commands share (the upload benchmark reports upload's own peak). The file size is
--memory-mb (1000 for the ~1 GB test; the default is smaller for quick runs).
"""

from __future__ import annotations

from common import (
    Context,
    Section,
    Side,
    Table,
    Target,
    compare,
    every_repeat,
    results_data,
    validate_command,
)

FORMATS = ("jsonl", "json", "csv")
LIMIT_MB = 100.0


def run(ctx: Context) -> Section:
    opts = ctx.options
    config = ctx.data.config()
    sides = []
    sizes_mb = []
    for fmt in FORMATS:
        ctx.say(f"memory: generating a {opts.memory_mb:g} MB {fmt} file")
        data = ctx.data.sized(opts.memory_mb, fmt)
        sizes_mb.append(data.size_bytes / 1e6)
        sides.append(Side(fmt, every_repeat(validate_command(data.path, config)), data.tasks))
    # Peak memory hardly varies between runs, and a 1 GB run takes a while: one run each.
    results = compare(sides, 1, ctx.say)
    section = Section(f"memory: lsimport validate on a {opts.memory_mb:g} MB file per format")
    table = Table(
        [
            "format",
            "file MB",
            "tasks",
            "wall s",
            "cpu s",
            "tasks/s",
            "MB/s",
            "peak MB",
            "largest process RSS MB",
        ],
        caption="one run each (whole process):",
    )
    for result, size_mb in zip(results, sizes_mb, strict=True):
        table.rows.append(
            [
                result.name,
                f"{size_mb:,.0f}",
                f"{result.side.tasks:,}",
                f"{result.median_s:.1f}",
                f"{result.cpu_s:.1f}",
                f"{result.rate:,.0f}",
                f"{size_mb / result.median_s:.1f}",
                f"{result.peak_mb:.0f}",
                f"{max(r.maxrss_mb for r in result.runs):.0f}",
            ]
        )
        section.targets.append(
            Target(
                f"peak memory, {result.name}",
                f"{result.peak_mb:.0f} MB",
                f"< {LIMIT_MB:g} MB",
                result.peak_mb < LIMIT_MB,
            )
        )
    section.tables.append(table)
    section.data = results_data(results)
    section.notes.append(
        "peak MB = the whole process tree's peak PSS (sampled every 50 ms; lsimport may start "
        "worker processes) or the largest single process's RSS (kernel), whichever is bigger"
    )
    return section
