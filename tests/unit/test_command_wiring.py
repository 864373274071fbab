"""FundLedger's behaviour does not hang on the order of its base classes.

It once did: placeholder methods raising NotFound (``_approve_by_resolution`` on the base,
``_approve_hiring`` and ``_check_self_management`` on the enterprise commands) were
overridden by the governance commands only because of where they stood among the bases, and
another order made every cited resolution unknown. The areas now ask ``ledger.resolutions``,
wired in by ``FundLedger``; these tests keep any name from being defined twice again.
"""

from __future__ import annotations

from itertools import combinations, permutations

import pytest

from ledger.application import FundLedger
from ledger.base import LedgerBase
from ledger.enterprises import EnterpriseCommands
from ledger.funds import FundCommands
from ledger.governance import GovernanceCommands

MIXINS = (FundCommands, GovernanceCommands, EnterpriseCommands)
# eventsourcing's Application.__init_subclass__ gives every subclass its own ``name``.
SET_ON_EVERY_SUBCLASS = {"name"}


def own_names(cls: type) -> set[str]:
    """What the class itself defines, leaving out what Python gives every class."""
    return {name for name in vars(cls)
            if not (name.startswith("__") and name.endswith("__"))} - SET_ON_EVERY_SUBCLASS


def defining_class(cls: type, name: str) -> type:
    return next(c for c in cls.__mro__ if name in vars(c))


@pytest.mark.parametrize(("one", "other"), list(combinations((LedgerBase, *MIXINS), 2)),
                         ids=lambda c: c.__name__)
def test_no_command_area_defines_a_name_another_one_or_the_base_defines(
    one: type, other: type
) -> None:
    assert own_names(one) & own_names(other) == set()


@pytest.mark.parametrize("bases", list(permutations(MIXINS)),
                         ids=lambda bases: "-".join(c.__name__ for c in bases))
def test_every_name_resolves_to_the_same_definition_whatever_the_order_of_the_bases(
    bases: tuple[type, ...],
) -> None:
    reordered = type("Reordered", bases, {})
    names = {name for cls in (LedgerBase, *MIXINS) for name in own_names(cls)}
    moved = {name: defining_class(reordered, name).__name__ for name in names
             if defining_class(reordered, name) is not defining_class(FundLedger, name)}
    assert moved == {}

