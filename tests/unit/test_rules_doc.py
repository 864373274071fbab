"""docs/rules.md stays true: every rule is documented, enforced in code and named by a test.

The rule ids are the fixed list of the sources' rules (F1–F11, V1–V6, C1–C4, E1–E3, R1–R2).
For each one: docs/rules.md has its section, the code of domain/, ledger/ or projections/
names it (``rule="F8"`` on a refusal, or a comment or docstring), and at least one test
function carries it in its name (``test_f8_...``, case-insensitive). Every module, class,
function and test that the page cites exists, and a test cited under a rule carries that
rule's id. So renaming a test or moving a module without updating the page fails here.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES_DOC = ROOT / "docs" / "rules.md"
CODE_PACKAGES = ("domain", "ledger", "projections")
RULE_IDS = (
    [f"F{n}" for n in range(1, 12)]
    + [f"V{n}" for n in range(1, 7)]
    + [f"C{n}" for n in range(1, 5)]
    + [f"E{n}" for n in range(1, 4)]
    + [f"R{n}" for n in range(1, 3)]
)
# A rule's section: "### F8 Works withdrawals" up to the next heading of any level.
SECTION = re.compile(r"^### ([A-Z][0-9]+) .*?(?=^#)", re.M | re.S)
# A cited file, optionally with a dotted name in it: `domain/vote.py::Vote.close`.
CITATION = re.compile(r"`([A-Za-z0-9_/.]+\.py)(?:::([A-Za-z0-9_.]+))?`")


def mentions(rule_id: str) -> re.Pattern[str]:
    """The id as a token: F1 but not F10, V3 but not V30 or DEV3."""
    return re.compile(rf"(?<![A-Za-z0-9]){rule_id}(?![0-9])")


def id_in_test_name(rule_id: str, name: str) -> bool:
    return rule_id.lower() in name.lower().split("_")


@cache
def sections() -> dict[str, str]:
    text = RULES_DOC.read_text(encoding="utf-8") + "\n#"  # the last section ends too
    found: dict[str, str] = {}
    for match in SECTION.finditer(text):
        assert match.group(1) not in found, f"{match.group(1)} has two sections"
        found[match.group(1)] = match.group(0)
    return found


@cache
def code_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for package in CODE_PACKAGES
                     for path in sorted((ROOT / package).rglob("*.py")))


@cache
def named_tests() -> frozenset[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (
                node.name.startswith("test_")
            ):
                names.add(node.name)
    return frozenset(names)


@cache
def defined_names(path: Path) -> dict[str, frozenset[str]]:
    """Module-level names, and each class's members, as "" -> names, "Class" -> names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    scopes: dict[str, frozenset[str]] = {"": frozenset(_names_in(tree.body))}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            scopes[node.name] = frozenset(_names_in(node.body))
    return scopes


def _names_in(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def citations(text: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in CITATION.finditer(text)]


def test_the_doc_has_one_section_per_rule_and_no_other() -> None:
    assert sorted(sections()) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_is_documented_enforced_in_code_and_named_by_a_test(rule_id: str) -> None:
    assert rule_id in sections(), f"docs/rules.md has no section '### {rule_id} ...'"
    assert mentions(rule_id).search(code_text()), (
        f"no code in {', '.join(CODE_PACKAGES)} names {rule_id} "
        f'(rule="{rule_id}" on its refusal, or a comment where it is enforced)')
    named = sorted(n for n in named_tests() if id_in_test_name(rule_id, n))
    assert named, f"no test function carries {rule_id} in its name (test_{rule_id.lower()}_...)"


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_a_rule_cites_code_and_tests_that_carry_its_id(rule_id: str) -> None:
    section = sections().get(rule_id, "")
    cited = citations(section)
    tests = [name for path, name in cited if path.startswith("tests/") and name]
    code = [path for path, _ in cited if not path.startswith("tests/")]
    assert code, f"the {rule_id} section cites no module that enforces it"
    assert tests, f"the {rule_id} section cites no test (tests/...py::test_...)"
    wrong = [name for name in tests if not id_in_test_name(rule_id, name)]
    assert not wrong, f"tests cited under {rule_id} do not carry its id: {wrong}"


def test_every_path_and_name_the_doc_cites_exists() -> None:
    text = RULES_DOC.read_text(encoding="utf-8")
    missing = []
    for path, name in sorted(set(citations(text)), key=str):
        file = ROOT / path
        if not file.is_file():
            missing.append(path)
            continue
        if name is None:
            continue
        scope, _, member = name.rpartition(".")
        if member not in defined_names(file).get(scope, frozenset()):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/rules.md cites what does not exist: {missing}"


def test_the_readme_points_at_the_rules_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/rules.md" in readme
    assert "../shared/" not in readme


def test_the_checks_catch_a_missing_id_and_a_name_without_it() -> None:
    assert mentions("F1").search("rule=\"F1\"") and not mentions("F1").search("F10, F11")
    assert not mentions("V3").search("DEV3 V30")
    assert id_in_test_name("F8", "test_f8_v4_withdrawals") and id_in_test_name(
        "V4", "test_f8_v4_withdrawals")
    assert not id_in_test_name("F1", "test_f10_statement")
    assert not id_in_test_name("E3", "test_three_rates")
