"""Only pseudonyms enter the immutable log: ids shaped like personal data are refused."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput
from domain.owner_ids import PSEUDONYMOUS_RULE, check_owner_id


@pytest.mark.parametrize(("owner_id", "what"), [
    ("110105199001011234", "resident identity card"),
    ("11010519900101123X", "resident identity card"),
    ("110105900101123", "resident identity card"),  # the old 15-digit card
    ("13800138000", "mobile"),
    ("8613800138000", "mobile"),
    ("owner-13912345678", "mobile"),
    ("zhang.san@example.com", "e-mail"),
])
def test_an_id_shaped_like_personal_data_is_refused_naming_the_rule(
        owner_id: str, what: str) -> None:
    with pytest.raises(InvalidInput, match=what) as raised:
        check_owner_id(owner_id)
    assert (raised.value.rule, raised.value.field) == (PSEUDONYMOUS_RULE, "owner_id")


@pytest.mark.parametrize("owner_id", [
    "owner-570c00ae8657", "owner-a", "developer", "o-1", "CY-0001:3-601:2", "12345678901",
])
def test_pseudonyms_pass(owner_id: str) -> None:
    check_owner_id(owner_id)


@pytest.mark.parametrize("owner_id", ["", "张三", "a b", "a+b", "x" * 65, "a\nb"])
def test_a_malformed_id_is_refused_naming_the_field(owner_id: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_owner_id(owner_id, "buyer_owner_id")
    assert (raised.value.rule, raised.value.field) == ("input-format", "buyer_owner_id")
