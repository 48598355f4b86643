"""Peak memory of `lsimport validate` when every record is broken: output must stream.

Before issue 14 the JSON reporter kept every problem until the end (300,000 broken records
peaked at 338 MB, 500,000 at 555 MB). Now `--output json` writes each problem as it is
found, and the text output prints the first 20 findings of each code and counts the rest.
The sides: JSON output of a tenth of the problems (the baseline: memory must not grow with
the number of problems), JSON of all of them, and the grouped text output of all of them.
Each side writes to a file (as `> out.json` would); the file is checked afterwards, so a
fast failure never passes for a fast success.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from common import (
    BenchError,
    Context,
    Run,
    Section,
    Side,
    Table,
    Target,
    compare,
    lsimport_command,
    results_data,
)

# One error per record: the config reads $text, the records only have `body`.
CONFIG = '<View><Text name="text" value="$text"/></View>\n'
LIMIT_MB = 100.0
GROWTH_LIMIT = 1.25  # peak(all) / peak(a tenth): flat means about 1


def broken_file(root: Path, n: int) -> Path:
    """n records, each missing the config's $text (cached: same n, same file)."""
    path = root / f"broken-{n}.jsonl"
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".part")
    with open(tmp, "wb", buffering=1 << 20) as out:
        for i in range(n):
            out.write(b'{"data": {"body": "record %d"}}\n' % i)
    tmp.replace(path)
    return path


def _to_file(command: list[str], out: Path) -> list[str]:
    """`command > out`, with the shell replaced by the command (exec): only it is measured."""
    return ["sh", "-c", f"exec {shlex.join(command)} > {shlex.quote(str(out))}"]


def _check_json(out: Path, problems: int) -> None:
    """The document is complete and holds every problem (counted without loading it)."""
    with open(out, "rb") as fh:  # one problem per line
        count = sum(line.startswith(b'{"file":') for line in fh)
    tail = out.read_bytes()[-400:] if out.stat().st_size < 400 else _tail(out)
    if count != problems or b'"invalid":%d' % problems not in tail:
        raise BenchError(f"{out}: {count} problems written, {problems} expected; ends {tail!r}")


def _tail(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-400, 2)
        return fh.read()


def _check_text(out: Path, problems: int) -> None:
    text = out.read_text()
    if f"{problems:,}" not in text or text.count("\n") > 200:
        raise BenchError(f"{out}: grouped text output expected, got {text[-600:]!r}")


def run(ctx: Context) -> Section:
    n = ctx.options.findings
    tenth = max(1, n // 10)
    root = ctx.options.workdir / "findings"
    root.mkdir(parents=True, exist_ok=True)
    config = root / "text-config.xml"
    config.write_text(CONFIG)
    ctx.say(f"findings: generating {tenth:,} and {n:,} broken records")
    small, big = broken_file(root, tenth), broken_file(root, n)

    def side(name: str, path: Path, problems: int, output: str) -> Side:
        out = root / f"{name.replace(' ', '-').replace(',', '')}.out"
        command = lsimport_command("validate", path, "--label-config", config, "-o", output)

        def verify(run: Run) -> None:
            (_check_json if output == "json" else _check_text)(out, problems)

        return Side(
            name,
            lambda repeat: _to_file(command, out),
            problems,
            verify=verify,
            expect_returncode=1,
        )

    sides = [
        side(f"json, {tenth:,} problems", small, tenth, "json"),
        side(f"json, {n:,} problems", big, n, "json"),
        side(f"text, {n:,} problems", big, n, "text"),
    ]
    results = compare(sides, ctx.options.repeat, ctx.say)
    section = Section(f"findings: lsimport validate where every one of {n:,} records is broken")
    table = Table(
        ["side", "problems", "wall s (median)", "cpu s", "problems/s", "peak MB"],
        caption=f"medians of {ctx.options.repeat} alternating runs (whole process):",
    )
    for result in results:
        table.rows.append(
            [
                result.name,
                f"{result.side.tasks:,}",
                f"{result.median_s:.1f}",
                f"{result.cpu_s:.1f}",
                f"{result.rate:,.0f}",
                f"{result.peak_mb:.0f}",
            ]
        )
    section.tables.append(table)
    base, full, text = results
    growth = full.peak_mb / base.peak_mb
    section.targets += [
        Target(
            f"peak memory, JSON output of {n:,} problems",
            f"{full.peak_mb:.0f} MB",
            f"< {LIMIT_MB:g} MB",
            full.peak_mb < LIMIT_MB,
        ),
        Target(
            f"peak memory, {n:,} vs {tenth:,} problems (JSON)",
            f"{growth:.2f}x",
            f"< {GROWTH_LIMIT:g}x",
            growth < GROWTH_LIMIT,
        ),
        Target(
            f"peak memory, grouped text output of {n:,} problems",
            f"{text.peak_mb:.0f} MB",
            f"< {LIMIT_MB:g} MB",
            text.peak_mb < LIMIT_MB,
        ),
    ]
    section.data = results_data(results)
    section.notes.append(
        "before issue 14 the JSON output held every problem: 300,000 broken records peaked at "
        "338 MB, 500,000 at 555 MB (as the issue measured them)"
    )
    return section
