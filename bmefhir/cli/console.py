"""The CLI's stderr console, apart from ``output`` so that light commands need not import the analysis."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, soft_wrap=True)  # one line per message, also in logs
