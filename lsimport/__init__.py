"""lsimport: validate and bulk-import Label Studio tasks and predictions, exactly once.

The library API (lsimport/api.py): `validate()`, `upload()`, `attach_predictions()`. They are
imported on first use, so `lsimport validate` on the command line starts no slower.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from lsimport.api import (
        PredictionResult,
        Problem,
        UploadResult,
        ValidationResult,
        attach_predictions,
        upload,
        validate,
    )

__all__ = [
    "PredictionResult",
    "Problem",
    "UploadResult",
    "ValidationResult",
    "__version__",
    "attach_predictions",
    "upload",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lsimport import api

        return getattr(api, name)
    raise AttributeError(f"module 'lsimport' has no attribute {name!r}")
