"""Reading the project's YAML data files (knowledge base, terminology tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The C loader when libyaml is present: these files load at the start of every process.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """Parse YAML safely (no arbitrary objects)."""
    return yaml.load(text, Loader=_LOADER)


def load_yaml(path: Path) -> Any:
    return parse_yaml(path.read_text(encoding="utf-8"))
