"""skyspool: a file-driven, near-real-time pipeline for multi-messenger alerts."""

__version__ = "0.1.0"
