"""The documentation holds together: README.md is one screen, every relative link and picture in it,
docs/*.md and the folders' READMEs leads to a file (and to a heading or `<a id>` where it names an
anchor, slugged as GitHub does), every docs page is linked from the README, and docs/layout.md names
every module of experiments/, xai/ and augment/. No model, no network: plain text."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import REPO

FOLDER_READMES = [REPO / "README.md", REPO / "notebooks" / "README.md", REPO / "results" / "README.md"]
PAGES = sorted([*FOLDER_READMES, *(REPO / "docs").glob("*.md")])
README_MAX_LINES = 150
PICTURE_MAX_BYTES = 300_000

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text outside fenced code blocks, with code spans kept as their words (a `#` or `[x](y)`
    inside code is neither a heading nor a link)."""
    text = FENCE.sub("", text)
    return CODE_SPAN.sub(lambda m: m.group(0).strip("`").replace("[", "").replace("]", "").replace("(", ""), text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and link targets dropped, lowercase, punctuation other
    than '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = prose(page.read_text(encoding="utf-8"))
    found, seen = set(HTML_ANCHOR.findall(text)), {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")  # repeats get -1, -2, ...
        seen[base] = seen.get(base, 0) + 1
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link or picture of `page` that leads nowhere, as 'target: why'."""
    broken = []
    for _, target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            broken.append(f"{target}: no heading or <a id> '{anchor}' in {dest.name}")
    return broken


def test_the_slug_follows_githubs_rules():
    assert slug("The tables' columns") == "the-tables-columns"
    assert slug("Shortcut audit: the art or the file?") == "shortcut-audit-the-art-or-the-file"
    assert slug("Augmentations (`augment/`)") == "augmentations-augment"
    assert slug("audit, audit_probe, eval_sets") == "audit-audit_probe-eval_sets"
    assert slug("CIFAKE: the 32 px CNN trained for real") == "cifake-the-32-px-cnn-trained-for-real"


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path):
    (tmp_path / "other.md").write_text('# Real heading\n\n<a id="row"></a>\n')
    page = tmp_path / "page.md"
    page.write_text(
        "## Here\n[ok](other.md#real-heading) [ok](other.md#row) [ok](#here) [web](https://example.org/x)\n"
        "[gone](missing.md) [bad anchor](other.md#nothing) ![picture](img/none.png)\n"
        "```\n[in code](ignored.md)\n# not a heading\n```\n`[in a span](ignored.md)`\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nothing: no heading or <a id> 'nothing' in other.md",
        "img/none.png: no such file",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_and_picture_resolves(page):
    assert broken_links(page) == []


def test_the_readme_is_one_screen_and_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {target.partition("#")[0] for _, target in LINK.findall(prose(readme))}
    pages = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert pages - linked == set(), "docs pages the README does not link to"


def test_the_pictures_are_small():
    pictures = list((REPO / "docs" / "img").glob("*.png"))
    assert pictures, "docs/img holds the report's screenshot"
    assert {p.name: p.stat().st_size for p in pictures if p.stat().st_size > PICTURE_MAX_BYTES} == {}


def test_the_layout_names_every_module():
    layout = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    missing = []
    for package in ("experiments", "xai", "augment"):
        for module in sorted((REPO / package).rglob("*.py")):
            path = module.relative_to(REPO).as_posix()
            folder = module.parent.relative_to(REPO).as_posix() + "/"
            if f"`{path}`" not in layout and not (module.name == "__init__.py" and f"`{folder}`" in layout):
                missing.append(path)
    assert missing == []
