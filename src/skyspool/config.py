"""Loading the configuration the way the Snakefile does: defaults, spool file, overrides.

``workflow/schemas/config.schema.yaml`` is the one source of every key: its default, its
description and its unit (``unit:``). ``config/config.yaml``, ``config/README.md`` and
``src/skyspool/settings.py`` are generated from it (``python -m skyspool.config``; the tests check
the committed files equal the generated text). ``config/config.yaml`` is overlaid by the spool's
``config.yaml`` and then by explicit overrides (nested keys merge), and the result is validated
against the schema with its defaults filled in. Keys renamed since (:data:`RENAMED`) are still
read, with one deprecation message each.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import sys
import textwrap
from pathlib import Path

import yaml

from skyspool.paths import Spool

log = logging.getLogger("skyspool.config")


def workflow_root() -> Path:
    """The directory holding the Snakefile (the repository, or $SKYSPOOL_WORKFLOW)."""
    configured = os.environ.get("SKYSPOOL_WORKFLOW")
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


DEFAULTS_FILE = workflow_root() / "config" / "config.yaml"
README_FILE = workflow_root() / "config" / "README.md"
SCHEMA_FILE = workflow_root() / "workflow" / "schemas" / "config.schema.yaml"
SETTINGS_MODULE = Path(__file__).with_name("settings.py")

#: Top-level keys renamed (old -> new): the old name is still read, with a deprecation message.
RENAMED = {
    "pipeline": "gwcand",     # GW pipeline candidates: one name with the kind, rules and package
    "notice": "gw_voevent",   # who sends the outgoing GW VOEvents (notice.xml)
    "notices": "gcn_notices",  # products of received GCN notices
}
_warned: set[str] = set()


def deep_update(base: dict, overlay: dict) -> dict:
    """Merge ``overlay`` into ``base`` in place, recursing into nested mappings."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def renamed(config: dict, where: str) -> dict:
    """``config`` with the keys of :data:`RENAMED` under their new names (the new name's values
    win over the old one's); each old name is logged once per process, naming the new key."""
    config = dict(config)
    for old, new in RENAMED.items():
        if old not in config:
            continue
        if old not in _warned:
            _warned.add(old)
            log.warning("config key %r (%s) is deprecated: use %r", old, where, new)
        value = config.pop(old)
        if isinstance(value, dict) and isinstance(config.get(new), dict):
            value = deep_update(copy.deepcopy(value), config[new])
        config[new] = value
    return config


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

    config = renamed(_load_yaml(DEFAULTS_FILE), str(DEFAULTS_FILE))
    deep_update(config, renamed(_load_yaml(spool.config_file), str(spool.config_file)))
    deep_update(config, renamed(overrides or {}, "overrides"))
    config["spool"] = str(spool.root)
    validate(config, str(SCHEMA_FILE), set_default=True)
    return config


@functools.cache
def schema() -> dict:
    """The configuration schema (read once)."""
    return _load_yaml(SCHEMA_FILE)


def defaults() -> dict:
    """Every key's default, from the schema alone (no spool, no ``spool`` key)."""
    from snakemake.utils import validate

    config = {"spool": ""}
    validate(config, str(SCHEMA_FILE), set_default=True)
    del config["spool"]
    return config


# ----- generated files: config/config.yaml, config/README.md, settings.py -----

WIDTH = 100
_UNSET = object()
HEADER = """\
# skyspool default configuration: GENERATED from workflow/schemas/config.schema.yaml, which holds
# every key's default, meaning and unit (edit the schema, then run `python -m skyspool.config`).
#
# A spool's own DIR/config.yaml overrides any of these keys (nested keys merge), and
# `--config key=value` on the snakemake command line overrides both. The spool directory itself
# is given as `--config spool=DIR` (skyspool does this). Every key: config/README.md.
"""


def _resolve(node: dict) -> dict:
    """``node`` with a ``$ref`` to ``#/$defs/...`` merged in (the node's own keys win)."""
    ref = node.get("$ref")
    if not ref:
        return node
    return {**schema()["$defs"][ref.rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}


def is_section(node: dict) -> bool:
    """Whether ``node`` is a group of keys documented one by one (rather than one value)."""
    return "$ref" not in node and "properties" in node and node.get("default", {}) in ({}, None)


def properties(node: dict | None = None, prefix: str = ""):
    """``(dotted key, schema node)`` of every key, depth first, groups before their keys."""
    node = schema() if node is None else node
    for name, child in node.get("properties", {}).items():
        yield prefix + name, child
        yield from properties(child, f"{prefix}{name}.")


def describe(node: dict) -> str:
    """A key's description with its unit, as written in the generated files."""
    text = " ".join(str(node.get("description", "")).split())
    unit = _resolve(node).get("unit")
    return f"{text} [{unit}]" if unit else text


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, WIDTH - len(indent) - 2)]


def _value_lines(name: str, value, indent: str) -> list[str]:
    flow = yaml.safe_dump({name: value}, default_flow_style=True, width=float("inf"), sort_keys=False)
    flow = flow.strip()[1:-1]  # {name: value} -> name: value
    if len(indent) + len(flow) <= WIDTH:
        return [indent + flow]
    if isinstance(value, dict):
        return [f"{indent}{name}:"] + [line for key, item in value.items()
                                       for line in _value_lines(key, item, indent + "  ")]
    block = yaml.safe_dump({name: value}, default_flow_style=False, sort_keys=False, width=WIDTH)
    return [indent + line for line in block.rstrip("\n").splitlines()]


def _yaml_lines(node: dict, values: dict, indent: str = "") -> list[str]:
    lines = []
    for name, child in node.get("properties", {}).items():
        if name not in values:  # the spool, given on the command line
            continue
        if is_section(child) and values[name] is not None:
            lines += ([""] if not indent else []) + _comment(describe(child), indent) + [f"{indent}{name}:"]
            lines += _yaml_lines(_resolve(child), values[name], indent + "  ")
        else:
            lines += _comment(describe(child), indent) + _value_lines(name, values[name], indent)
    return lines


def config_yaml_text() -> str:
    """The text of ``config/config.yaml``: every key with its default, its description as a comment."""
    return HEADER + "\n" + "\n".join(_yaml_lines(schema(), defaults())) + "\n"


def commented_template() -> str:
    """The defaults file with every setting commented out, for ``skyspool init``."""
    lines = ["# This spool's configuration: uncomment and change what differs from the defaults.",
             "# (Every key and its meaning: config/README.md of skyspool.)", ""]
    for line in config_yaml_text().splitlines()[len(HEADER.splitlines()):]:
        if line.strip() and not line.lstrip().startswith("#"):
            indent = len(line) - len(line.lstrip())
            line = " " * indent + "# " + line.lstrip()
        lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n"


def _type_of(node: dict) -> str:
    node = _resolve(node)
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    kinds = node.get("type", "")
    return " \\| ".join(kinds) if isinstance(kinds, list) else kinds


def readme_text() -> str:
    """The text of ``config/README.md``: a table of every key (from the schema)."""
    values = defaults()
    lines = ["# skyspool configuration keys", "",
             "GENERATED from `workflow/schemas/config.schema.yaml` by `python -m skyspool.config`",
             "(the tests check this file). `config/config.yaml` holds the same defaults; a spool's",
             "`config.yaml` overrides any key; `skyspool init DIR` writes one with every key commented out.",
             "Keys renamed (the old names are still read, with a deprecation message): "
             + ", ".join(f"`{old}` -> `{new}`" for old, new in RENAMED.items()) + ".", "",
             "| key | type | default | unit | meaning |", "|---|---|---|---|---|"]
    rows = list(properties())
    for name, place in DEF_PLACES.items():
        rows += [(place + key, node) for key, node in properties(schema()["$defs"][name])]
    for key, node in rows:
        value = values
        for part in key.split("."):
            value = value.get(part, _UNSET) if isinstance(value, dict) else _UNSET
        if value is _UNSET and "default" in node:
            value = node["default"]
        shown = "" if value is _UNSET or is_section(node) else f"`{json.dumps(value)}`"
        shown = "see config/config.yaml" if len(shown) > 60 else shown
        text = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{key}` | {_type_of(node)} | {shown} | {_resolve(node).get('unit', '')} | {text} |")
    return "\n".join(lines) + "\n"


# ----- the generated part of settings.py -----

MARKER = "# ----- generated from workflow/schemas/config.schema.yaml below this line -----\n"
#: Where the keys of a ``$defs`` entry are used, for the README.
DEF_PLACES = {"threshold": "orchestrator.thresholds.<search>.", "sink": "publish.sinks.<name>."}
_SCALARS = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "null": "None",
            "object": "Mapping[str, Any]"}


def _class_name(key: str) -> str:
    return "".join(part.title().replace("_", "") for part in key.split(".") if part) + "Settings"


def _python_type(node: dict, key: str) -> str:
    raw, node = node, _resolve(node)
    if "$ref" in raw:
        return _class_name(raw["$ref"].rsplit("/", 1)[-1])
    kinds = node.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if is_section(raw):
        return _class_name(key) + (" | None" if "null" in kinds else "")
    if "enum" in node:
        named = [v for v in node["enum"] if v is not None]
        return f"Literal{named!r}" + (" | None" if None in node["enum"] else "")
    if kinds and kinds[0] == "array":
        return f"tuple[{_python_type(node.get('items', {}), key)}, ...]"
    if node.get("additionalProperties") and "$ref" in node["additionalProperties"]:
        return "Mapping[str, Mapping[str, Any]]"
    return " | ".join(_SCALARS[kind] for kind in kinds) if kinds else "Any"


def _python_default(node: dict, key: str) -> str | None:
    raw = node
    if "$ref" in raw:
        cls = _class_name(raw["$ref"].rsplit("/", 1)[-1])
        return f"_section({cls}, {raw['default']!r})" if "default" in raw else None
    if is_section(raw):
        return "None" if raw.get("default", {}) is None else f"_section({_class_name(key)})"
    if "default" not in raw:
        return None
    value = raw["default"]
    if isinstance(value, dict):
        return f"_default({value!r})"
    return repr(tuple(value) if isinstance(value, list) else value)


def _docstring(text: str, indent: str) -> list[str]:
    text = text.replace("\\", "\\\\").replace('"""', "'''") or "(no description)"
    lines = textwrap.wrap(text, WIDTH - len(indent) - 6)
    if len(lines) == 1 and not text.endswith('"'):
        return [f'{indent}"""{lines[0]}"""']
    return [f'{indent}"""{lines[0]}'] + [indent + line for line in lines[1:]] + [f'{indent}"""']


def _classes(node: dict, key: str, name: str) -> list[str]:
    lines: list[str] = []
    # Keys a section requires have no default; the top level's spool is None in a partial config.
    required = set(node.get("required", ())) if key and node.get("default", {}) is not None else set()
    for child_name, child in node.get("properties", {}).items():
        if is_section(child):
            lines += _classes(_resolve(child), f"{key}.{child_name}", _class_name(f"{key}.{child_name}"))
    lines += ["", "", "@dataclasses.dataclass(frozen=True, kw_only=True)", f"class {name}:"]
    about = node.get("description", "") if key else "every section of the configuration"
    lines += _docstring(" ".join(str(about).split()), "    ")
    for child_name, child in node.get("properties", {}).items():
        default = _python_default(child, f"{key}.{child_name}")
        if default is None and child_name not in required:  # a key the code defaults when absent
            default = "None"
        annotation = f"    {child_name}: {_python_type(child, f'{key}.{child_name}')}"
        if default == "None" and "None" not in annotation:
            annotation += " | None"
        lines += ["", annotation + (f" = {default}" if default is not None else "")]
        lines += _docstring(describe(child), "    ")
    return lines


def settings_source() -> str:
    """The text of ``src/skyspool/settings.py``: its hand-written head, then the generated classes."""
    head = SETTINGS_MODULE.read_text().split(MARKER, 1)[0] + MARKER
    lines = []
    for name, node in schema()["$defs"].items():
        lines += _classes(node, name, _class_name(name))
    lines += _classes(schema(), "", "Settings")
    return head + "\n".join(lines[1:]) + "\n"


GENERATED = {DEFAULTS_FILE: config_yaml_text, README_FILE: readme_text}


def main(argv: list[str] | None = None) -> int:
    """Write the generated files (``--check``: only say which differ, exit 1 if any)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for path, make in {**GENERATED, SETTINGS_MODULE: settings_source}.items():
        text = make()
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not check:
                path.write_text(text)
    for path in stale:
        print(f"{'differs' if check else 'written'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
