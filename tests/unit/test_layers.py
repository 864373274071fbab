"""The rings point inward: api -> projections -> ledger -> domain (STYLE.md points 2 and 11)."""

from __future__ import annotations

import ast
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
