"""Every word the owners' pages show exists in both languages, every code has a name, and
money prints with thousands separators."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.web.format import yuan_text
from api.web.i18n import LABELS, MESSAGES, labeller
from domain.community import EMERGENCY_CATEGORIES
from domain.posting import CHARGEABLE_COST_KINDS, INCOME_SOURCES
from domain.vote import CHOICES, MATTER_KINDS

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "web" / "templates"
KEY = re.compile(r"""\bt\(\s*'([a-z_]+)'""")


def test_every_key_a_template_asks_for_exists() -> None:
    asked = {key for path in TEMPLATES.glob("*.html")
             for key in KEY.findall(path.read_text(encoding="utf-8"))}
    assert len(asked) > 50
    assert sorted(asked - set(MESSAGES)) == []


def test_every_message_is_in_chinese_and_english() -> None:
    for key, (zh, en) in MESSAGES.items():
        assert zh and en, key
        # The language switch is the one thing written in the other language.
        assert re.search(r"[\u4e00-\u9fff]", zh) or key.startswith("switch_language"), key


@pytest.mark.parametrize(("kind", "codes"), [
    ("cost_kind", CHARGEABLE_COST_KINDS), ("emergency", EMERGENCY_CATEGORIES),
    ("matter", MATTER_KINDS), ("income_source", INCOME_SOURCES), ("choice", CHOICES)])
def test_every_code_has_a_name(kind: str, codes: tuple[str, ...]) -> None:
    assert sorted(set(codes) - set(LABELS[kind])) == []
    assert labeller("zh")(kind, codes[0]) != codes[0]


def test_yuan_prints_with_thousands_separators() -> None:
    assert yuan_text(123_456_789) == "1,234,567.89 元"
    assert yuan_text(5) == "0.05 元"
    assert yuan_text(-2_500_000, signed=True) == "−25,000.00 元"
    assert yuan_text(100, signed=True) == "+1.00 元"
