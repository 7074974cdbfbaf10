"""Loading the configuration the way the Snakefile does: defaults, spool file, overrides.

``config/config.yaml`` is overlaid by the spool's ``config.yaml`` and then by explicit
overrides (nested keys merge), and the result is validated against
``workflow/schemas/config.schema.yaml`` with its defaults filled in.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from skyspool.paths import Spool


def workflow_root() -> Path:
    """The directory holding the Snakefile (the repository, or $SKYSPOOL_WORKFLOW)."""
    configured = os.environ.get("SKYSPOOL_WORKFLOW")
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


DEFAULTS_FILE = workflow_root() / "config" / "config.yaml"
SCHEMA_FILE = workflow_root() / "workflow" / "schemas" / "config.schema.yaml"


def deep_update(base: dict, overlay: dict) -> dict:
    """Merge ``overlay`` into ``base`` in place, recursing into nested mappings."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    return data


def load(spool: Spool, overrides: dict | None = None) -> dict:
    """The validated configuration of ``spool`` with every default filled in."""
    from snakemake.utils import validate

    config = _load_yaml(DEFAULTS_FILE)
    deep_update(config, _load_yaml(spool.config_file))
    deep_update(config, overrides or {})
    config["spool"] = str(spool.root)
    validate(config, str(SCHEMA_FILE), set_default=True)
    return config


def commented_template() -> str:
    """The defaults file with every setting commented out, for ``skyspool init``."""
    lines = ["# This spool's configuration: uncomment and change what differs from the defaults.",
             f"# (Defaults and their meaning: {DEFAULTS_FILE})", ""]
    for line in DEFAULTS_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            indent = len(line) - len(line.lstrip())
            line = " " * indent + "# " + line.lstrip()
        lines.append(line)
    return "\n".join(lines) + "\n"
