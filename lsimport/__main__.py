"""`lsimport` and `python -m lsimport`: the command line, started with the collector paused.

Start-up (imports, typer's commands) allocates ~100,000 objects that live to the end, and
collecting among them finds nothing: pausing the collector until the command runs saves
4 ms of a one-record `validate`'s 137 ms. The command resumes it (cli._environment).
"""

import gc


def main() -> None:
    gc.disable()
    from lsimport import environment  # noqa: F401 - AT_START: watch how busy the machine is
    from lsimport.cli import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
