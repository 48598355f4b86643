"""lsimport: validate and bulk-import Label Studio tasks and predictions, exactly once."""

__version__ = "0.1.0"
