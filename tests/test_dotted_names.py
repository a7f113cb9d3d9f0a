"""Every dotted module name (`experiments.stages.audit`, `augment.naming.describe`) and every
source path (`experiments/stages/audit.py`) that the code, the docs and the report's templates
name resolves: the module is a file or package of the tree, and what follows it is an attribute
of it. Names in YAML terms (`augment.jpeg.quality`: a grid's op and parameter) and file names
(`benchmarks.md`) are not module names. Tests are not walked: they name wrong things on purpose."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from augment import SINGLE_OPS
from augment.grid import REPEATS
from tests.conftest import REPO

ROOTS = ("experiments", "augment", "xai", "benchmarks")
DOTTED = re.compile(r"(?<![\w./-])((?:" + "|".join(ROOTS) + r")(?:\.\w+)+)(?![\w*])")
SLASHED = re.compile(r"(?<![\w./-])((?:" + "|".join(ROOTS) + r"|tests|tools)/[\w/.-]*\.(?:py|j2|yaml))")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)  # an example in the docs may name a file to be written
SUFFIXES = {"md", "py", "yaml", "yml", "json", "csv", "html", "png"}


def walked() -> list[Path]:
    files = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for root in (*ROOTS, "tools"):
        files += sorted(p for p in (REPO / root).rglob("*") if p.suffix in {".py", ".j2", ".md"})
    return [p for p in files if "__pycache__" not in p.parts]


def module_name(name: str) -> bool:
    parts = name.split(".")
    if parts[-1] in SUFFIXES:  # a file name: benchmarks.md
        return False
    if parts[0] == "augment" and (parts[1] in SINGLE_OPS or parts[1] == REPEATS):  # a grid's YAML path
        return (REPO / "augment" / f"{parts[1]}.py").is_file()
    return True


def resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:i])
        whole = i == len(parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() or (whole and base.is_dir()):
            if whole:
                return True
            found = importlib.import_module(".".join(parts[:i]))
            for attribute in parts[i:]:
                if not hasattr(found, attribute):
                    return False
                found = getattr(found, attribute)
            return True
    return False


def unresolved(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = FENCE.sub("", text) if path.suffix == ".md" else text
    names = {m.group(1) for m in DOTTED.finditer(text)}
    bad = [n for n in sorted(names) if module_name(n) and not resolves(n)]
    return bad + [p for p in sorted({m.group(1) for m in SLASHED.finditer(text)}) if not (REPO / p).exists()]


def test_the_walker_finds_a_stale_name_and_passes_a_good_one(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "`experiments.stages.audit.run`, `augment.naming.describe`, `augment.jpeg.quality`, benchmarks.md,\n"
        "`experiments.folders.list_images`, `experiments/claims.py`, `experiments.stages.audit.nothing`\n"
    )
    stale = ["experiments.folders.list_images", "experiments.stages.audit.nothing", "experiments/claims.py"]
    assert unresolved(page) == stale


def test_every_dotted_name_and_source_path_resolves():
    files = walked()
    assert len(files) > 150 and REPO / "experiments/report/templates/index.html.j2" in files  # it saw the tree
    bad = {str(p.relative_to(REPO)): found for p in files if (found := unresolved(p))}
    assert not bad, f"names that resolve to nothing: {bad}"
