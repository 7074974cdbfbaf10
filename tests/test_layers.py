"""The import layers of src/skyspool: a module imports only its own layer or below, and no
module imports itself back through others (issue #20, target state 2).

Every ``import`` and ``from ... import`` statement counts, at module level and inside
functions alike (a lazy import is a dependency all the same). The map is written here, not
read from the code: a module that is not in it fails the test until someone places it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "skyspool"

MODEL, FORMATS, SCIENCE, GLUE, APP = range(5)
LAYER_NAMES = ("model", "formats", "science", "glue", "app")

# Module names relative to ``skyspool``; ``x.*`` is every module of package ``x`` and ``x``
# itself. An exact name wins over a wildcard (``frb.products`` is glue, the rest of ``frb`` science).
LAYERS = {
    MODEL: [
        "__init__",  # the skyspool package itself (its version)
        "ids", "paths", "atomic", "times", "config", "settings", "contract", "jobs",
        "effects",      # the intent files rules write for what goes out (publish.effects sends them)
        "timers",       # wake-up files in the spool; imports only atomic/paths
        "superevents",  # superevent records and GWCelery's significance rule (formats.gwalert asks it)
    ],
    FORMATS: [
        "formats.*",
        # the parsers of AMBER candidate files and of observation YAML (formats.frb registers them)
        "frb.amber", "frb.amber_fast", "frb.observation",
    ],
    SCIENCE: [
        "skymap", "coincidence", "gw_classify", "galaxies", "catalog", "plots",
        "notices.*", "frb.*", "gwcand.*",
    ],
    GLUE: [
        "gw.*", "notices.products", "notices.targets", "frb.products", "frb.targets", "gwcand.targets", "targets",
        "outgoing", "dashboard", "status",
        "workflow",      # asks Snakemake for targets: the dashboard builds its pages through it
        "orchestrator",  # the decision rules' bodies; sends through outgoing
        "fermi",         # Fermi visibility and the rule glue of stats.json/MOCs (calls gw.products)
        "ingest",        # the inbox -> spool step: outgoing and frb.follow store through it
        "frb.follow",    # follows growing AMBER files, stores chunks through ingest
        "control",       # the run-time switches the FRB rules and the dashboard read
    ],
    APP: [
        "daemon", "inbox", "scheduler", "runner", "records", "cli", "listen", "publish.*",
        "reprocess", "migrate", "demo", "samples",
    ],
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def is_module(name: str) -> bool:
    if name == "__init__":
        return True
    base = PACKAGE.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(path: Path) -> set[tuple[str, int]]:
    """The skyspool modules ``path`` imports, with the line of each import."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if name == "__init__":
        package = ""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - node.level + 1]
                module = ".".join(["skyspool", *base] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from skyspool.x import y``: module x.y when it is one, else x
            targets = [f"{module}.{alias.name}" if _local(f"{module}.{alias.name}") is not None
                       and is_module(_local(f"{module}.{alias.name}")) else module for alias in node.names]
        else:
            continue
        for target in targets:
            local = _local(target)
            if local is not None:
                found.add((local, node.lineno))
    return found


def _local(dotted: str) -> str | None:
    if dotted == "skyspool":
        return "__init__"
    if dotted.startswith("skyspool."):
        return dotted[len("skyspool."):]
    return None


def layer_of(module: str) -> int | None:
    for layer, names in LAYERS.items():
        if module in names:
            return layer
    best = None
    for layer, names in LAYERS.items():
        for pattern in names:
            if pattern.endswith(".*"):
                package = pattern[:-2]
                if (module == package or module.startswith(package + ".")) and (
                        best is None or len(package) > best[0]):
                    best = (len(package), layer)
    return None if best is None else best[1]


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line}, without imports of itself."""
    edges = {}
    for name, path in modules().items():
        edges[name] = {}
        for target, line in sorted(imported(path)):
            if target != name:
                edges[name].setdefault(target, line)
    return edges


def test_the_map_names_each_module_once():
    names = [name for layer in LAYERS.values() for name in layer]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_every_module_is_in_the_map():
    missing = [name for name in modules() if layer_of(name) is None]
    assert not missing, (f"modules in no layer: {missing}; add each to LAYERS in {Path(__file__).name} "
                         "(model, formats, science, glue or app)")


def test_a_module_imports_only_its_own_layer_or_below():
    wrong = []
    for name, targets in graph().items():
        own = layer_of(name)
        for target, line in targets.items():
            if own is None:
                continue
            their = layer_of(target)
            if their is None or their > own:
                where = "no layer" if their is None else LAYER_NAMES[their]
                wrong.append(f"{modules()[name].relative_to(PACKAGE.parent)}:{line}: "
                             f"{name} ({LAYER_NAMES[own]}) imports {target} ({where})")
    assert not wrong, "imports from a higher layer:\n" + "\n".join(wrong)


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One path of each import cycle (``[a, b, ..., a]``), found depth first."""
    found, done = [], set()

    def visit(node, path, on_path):
        for target in sorted(edges.get(node, {})):
            if target in on_path:
                cycle = path[path.index(target):] + [target]
                if set(cycle) not in [set(c) for c in found]:
                    found.append(cycle)
            elif target not in done:
                on_path.add(target)
                visit(target, path + [target], on_path)
                on_path.discard(target)
        done.add(node)

    for start in sorted(edges):
        if start not in done:
            visit(start, [start], {start})
    return found


def test_no_import_cycles():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_cycle_finder_reports_the_path():
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert cycles(edges) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


@pytest.mark.parametrize("module, layer", [
    ("formats.gwalert", FORMATS), ("frb.products", GLUE), ("frb.clustering", SCIENCE),
    ("gwcand.rules", SCIENCE), ("publish.kafka", APP), ("notices", SCIENCE), ("nowhere", None)])
def test_layer_of(module, layer):
    assert layer_of(module) == layer
