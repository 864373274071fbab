"""The rings point inward: api -> projections -> ledger -> domain (STYLE.md points 2 and 11).

And each ring keeps to its job: ``ledger`` is the write side (it imports neither the read side
nor the edge), ``projections`` the read side, and rendering for people and programs outside
(HTML pages, CSS, CSV files written) happens only in ``api``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What each package may import from this project.
ALLOWED = {
    "domain": {"domain"},
    "ledger": {"domain", "ledger"},
    "projections": {"domain", "ledger", "projections"},
    "api": {"domain", "ledger", "projections", "api"},
}
OURS = set(ALLOWED)
DOMAIN_OUTSIDE_ALLOWED = {"eventsourcing.domain"}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_inner_rings(package: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        # `python -m ledger` only hands over to the CLI, which lives in the outer ring.
        if path != ROOT / "ledger" / "__main__.py"
        for name in imports(path)
        if name.split(".")[0] in OURS and name.split(".")[0] not in ALLOWED[package]
    ]
    assert offending == []


def test_the_domain_imports_only_the_standard_library_and_eventsourcing_domain() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "domain").rglob("*.py"))
        for name in imports(path)
        if name.split(".")[0] not in stdlib | {"domain"} and name not in DOMAIN_OUTSIDE_ALLOWED
    ]
    assert offending == []


# Rendering, as the source shows it: a module for escaping or templating markup, a CSV writer,
# or a string holding HTML tags or print CSS.
RENDERING_MODULES = {"html", "markupsafe", "jinja2"}
CSV_WRITERS = {"writer", "DictWriter"}
MARKUP = re.compile(r"</?(?:html|head|body|style|script|table|thead|tbody|tfoot|tr|td|th|div|p"
                    r"|h[1-6]|span|meta|title)\b[^<>]*>|@media\b|@page\b", re.IGNORECASE)
RENDERS = ROOT / "api" / "render"


def rendering(path: Path) -> list[str]:
    """Where a module renders: each import of a markup module or a CSV writer, each CSV
    writer it builds and each string value holding markup or print CSS (docstrings, which
    are prose and may name ``<table>`` as a placeholder, are not values)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names
                      if a.name.split(".")[0] in RENDERING_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in RENDERING_MODULES:
                found.append(f"{where} imports {node.module}")
            if node.module == "csv":
                found += [f"{where} imports csv.{a.name}" for a in node.names
                          if a.name in CSV_WRITERS]
        elif (isinstance(node, ast.Attribute) and node.attr in CSV_WRITERS
              and isinstance(node.value, ast.Name) and node.value.id == "csv"):
            found.append(f"{where} writes CSV (csv.{node.attr})")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in prose):
            found += [f"{where} holds markup {m.group()!r}" for m in MARKUP.finditer(node.value)]
    return found


def test_the_check_sees_the_rendering_where_it_is() -> None:
    """The edge's renderers trip every kind of finding, so an empty list below means none."""
    found = "\n".join(line for path in sorted(RENDERS.rglob("*.py"))
                      for line in rendering(path))
    for kind in ("imports html", "writes CSV (csv.DictWriter)", "holds markup '<td>'",
                 "holds markup '@media'"):
        assert kind in found


@pytest.mark.parametrize("package", ["domain", "ledger", "projections"])
def test_rendering_happens_only_at_the_edge(package: str) -> None:
    offending = [line for path in sorted((ROOT / package).rglob("*.py"))
                 for line in rendering(path)]
    assert offending == []
