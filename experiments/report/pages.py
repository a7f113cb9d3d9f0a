"""The report's pages, rendered from its Jinja2 templates (experiments/report/templates), with the
page's CSS copied beside them."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from experiments.rundir.atomic import atomic_write, atomic_write_text

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))


def write_page(path: Path, template: str, **context) -> None:
    atomic_write_text(path, environment().get_template(template).render(**context))


def write_style(report: Path) -> None:
    atomic_write(report / "style.css", lambda tmp: shutil.copyfile(TEMPLATES / "style.css", tmp))
