"""Validation of GCN JSON notices against nasa-gcn/gcn-schema (the npm package ``@nasa-gcn/schema``).

The schemas are read from a folder holding ``gcn/notices/...`` (the npm package's root):
``$SKYSPOOL_GCN_SCHEMA``, else ``<sys.prefix>/share/gcn-schema/node_modules/@nasa-gcn/schema``
(where ``make`` installs version :data:`INSTALLED_VERSION`). Their ``$ref`` links are resolved
locally (a ``referencing`` registry of every schema by its ``$id``), never over the network.

A notice whose ``$schema`` names a branch (``main``) or the installed version is refused when
it does not validate; one naming another version is accepted with the disagreement logged
(a later or earlier schema may differ, and a real notice is never refused for that).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path

from skyspool.formats.registry import Refused

log = logging.getLogger(__name__)

INSTALLED_VERSION = "v7.2.3"
SCHEMA_ENV = "SKYSPOOL_GCN_SCHEMA"


def schema_root() -> Path | None:
    """The folder holding ``gcn/notices/``, or None when no schema is installed."""
    configured = os.environ.get(SCHEMA_ENV)
    root = Path(configured) if configured else (
        Path(sys.prefix) / "share" / "gcn-schema" / "node_modules" / "@nasa-gcn" / "schema")
    return root if (root / "gcn" / "notices").is_dir() else None


@functools.cache
def _validators(root: Path) -> dict:
    """family (``maxi/gsc.unknown``) -> validator, for every notice schema under ``root``."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = {}
    for path in sorted((root / "gcn").rglob("*.schema.json")):
        schemas[path] = json.loads(path.read_text())
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values() if "$id" in schema)
    notices = root / "gcn" / "notices"
    validators = {}
    for path, schema in schemas.items():
        if notices in path.parents:
            family = str(path.relative_to(notices)).removesuffix(".schema.json")
            cls = jsonschema.validators.validator_for(schema)
            validators[family] = cls(schema, registry=registry)
    return validators


def problem(record: dict, family: str) -> str | None:
    """The first schema error of ``record`` against its family's schema, or None."""
    import jsonschema

    root = schema_root()
    if root is None:
        raise RuntimeError(f"no GCN notice schema installed (set {SCHEMA_ENV} or run make)")
    validator = _validators(root).get(family)
    if validator is None:
        return None  # a family the installed schema does not have (an older stream)
    error = jsonschema.exceptions.best_match(validator.iter_errors(record))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    return f"{where}: {error.message[:120]}"


def check(record: dict, family: str, version: str | None) -> None:
    """Refuse ``record`` when it breaks its schema (see the module's docstring)."""
    if schema_root() is None:
        log.warning("GCN notice not validated: no schema installed (set %s)", SCHEMA_ENV)
        return
    found = problem(record, family)
    if found is None:
        return
    if version in (None, INSTALLED_VERSION):
        raise Refused(f"not a valid {family} notice: {found}")
    log.warning("%s notice of schema %s does not follow %s: %s", family, version, INSTALLED_VERSION, found)
