"""Shared test settings.

In CI (CI=true) hypothesis runs derandomized: the same examples every run, so a submission
is judged on the code, not on the luck of a seed. Locally it explores new examples each run.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
