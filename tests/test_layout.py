"""The package layout: no import circle between experiments' sub-packages, and the libraries
(augment, xai) never import experiments. Read from the source with ast (every import, also the
ones inside functions), so nothing is imported to check it. Also: no module of the packages passes
400 lines, and ruff's line limit (pyproject.toml) and name checks pass over the tree."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (REPO / "experiments").iterdir() if (p / "__init__.py").is_file())


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, `from a.b import c` counted as a.b and a.b.c."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def package_of(module: str) -> str | None:
    """experiments.<sub-package> for a module inside one; None for anything else."""
    parts = module.split(".")
    if parts[0] == "experiments" and len(parts) > 1 and parts[1] in PACKAGES:
        return f"experiments.{parts[1]}"
    return None


def package_graph() -> dict[str, dict[str, set[str]]]:
    """Sub-package -> sub-package it imports -> the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = {f"experiments.{p}": {} for p in PACKAGES}
    for path in sorted((REPO / "experiments").rglob("*.py")):
        source = module_name(path)
        if (here := package_of(source)) is None:
            continue
        for target in imported_modules(path):
            there = package_of(target)
            if there is not None and there != here:
                graph[here].setdefault(there, set()).add(source)
    return graph


def cycle(graph: dict[str, dict]) -> list[str] | None:
    """One import circle of the graph, as the packages along it; None when there is none."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in graph.get(node, {}):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return None

    for start in graph:
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finds_a_circle_and_only_a_circle():
    assert cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b": 1, "c": 1}, "b": {"c": 1}, "c": {}}) is None


def test_no_import_circle_between_experiments_subpackages():
    graph = package_graph()
    assert {"experiments.inputs", "experiments.models", "experiments.stages", "experiments.report"} <= set(graph)
    assert "experiments.inputs" in graph["experiments.models"]  # the graph sees real imports
    found = cycle(graph)
    via = [sorted(graph[a][b]) for a, b in zip(found, found[1:])] if found else []
    assert found is None, f"import circle {' -> '.join(found)} via {via}"


def test_no_stage_imports_the_report():
    """No exemption: the stages write tables, the report reads them (never the other way)."""
    found = {}
    for path in sorted((REPO / "experiments" / "stages").rglob("*.py")):
        report = {m for m in imported_modules(path) if m == "experiments.report" or m.startswith("experiments.report.")}
        if report:
            found[str(path.relative_to(REPO))] = sorted(report)
    assert not found, f"stages that import the report: {found}"
    assert "experiments.stages" in package_graph()["experiments.report"]  # the report reads the stages' tables


def test_a_stage_is_a_module_with_run_and_the_stages_folder_holds_only_stages():
    """STAGES lists modules (or sub-packages) of experiments.stages, each with one `run(ctx)`, and
    every file or sub-package of experiments/stages/ is one of them (its helpers live inside it)."""
    import inspect
    import types

    from experiments.runner import STAGES

    names = []
    for stage in STAGES:
        assert isinstance(stage, types.ModuleType) and stage.__name__.startswith("experiments.stages."), stage
        assert list(inspect.signature(stage.run).parameters) == ["ctx"], stage.__name__
        names.append(stage.__name__.removeprefix("experiments.stages."))
    assert len(set(names)) == len(names) and all("." not in n for n in names), names
    folder = REPO / "experiments" / "stages"
    found = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    found |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(names), f"not a stage: {sorted(found - set(names))}; missing: {sorted(set(names) - found)}"


def test_only_the_table_writer_writes_tables():
    """One function writes a run's tables (experiments.context.write_tables): no other module
    of experiments/ calls atomic_write_table."""
    callers = set()
    for path in sorted((REPO / "experiments").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == (
                "atomic_write_table"
            ):
                callers.add(str(path.relative_to(REPO)))
    assert callers == {"experiments/context.py"}, sorted(callers)


def test_the_libraries_never_import_experiments():
    for library in ("augment", "xai"):
        for path in sorted((REPO / library).rglob("*.py")):
            bad = {m for m in imported_modules(path) if m == "experiments" or m.startswith("experiments.")}
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


MAX_MODULE_LINES = 400
RUFF_RULES = "E501,F401,F811,F821,F841"  # line length; unused import, redefinition, undefined name, unused variable


def test_no_module_of_the_packages_passes_400_lines():
    sizes = {}
    for package in ("experiments", "xai", "augment", "benchmarks"):
        for path in (REPO / package).rglob("*.py"):
            sizes[str(path.relative_to(REPO))] = len(path.read_text(encoding="utf-8").splitlines())
    assert len(sizes) > 100 and "experiments/config/schema.py" in sizes  # it saw the tree
    over = {name: n for name, n in sizes.items() if n >= MAX_MODULE_LINES}
    assert not over, f"modules of {MAX_MODULE_LINES} lines or more: {over}"


def test_ruff_finds_no_long_line_and_no_unused_or_undefined_name():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (it is in the dev extra: pip install -e .[dev])")
    found = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", RUFF_RULES, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stdout[-4000:] + found.stderr[-2000:]
