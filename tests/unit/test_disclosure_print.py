"""The disclosure fit to publish (F10) of a large community: its sub-accounts summed per
building, every sum equal to its units' lines, and where each unit's line is found."""

from __future__ import annotations

import random
import re
from datetime import date

from api.render.disclosure_print import UNITS_PRINTED_MAX, Issue, buildings, print_html
from projections.history.disclosure import Disclosure, UnitYear

ISSUE = Issue(issuer="审计人员（test）", issued_on=date(2026, 12, 31), log_position=1,
              checkpoint=None, fingerprint=None, proof_url="http://example.test/web/proofs",
              details_url="http://example.test/web/disclosure.csv?community=BIG&year=2026")


def community(units: int, seed: int = 7) -> Disclosure:
    rng = random.Random(seed)
    lines = []
    for n in range(units):
        opening, deposits, income = (rng.randint(0, 10**7) for _ in range(3))
        use = rng.randint(0, opening + deposits + income)
        building = str(n * 13 % 12 + 1)  # buildings 1..12, interleaved as a register can be
        lines.append(UnitYear(f"{building}-{n}", building, str(n), rng.randint(4_000, 16_000),
                              opening, deposits, income, use, 0,
                              opening + deposits + income - use, False))
    return Disclosure("BIG", "大型社区", "110105", "110105003", 2026, units=lines,
                      bank_balance_fen=sum(u.balance_fen for u in lines))


def test_f10_a_large_community_prints_its_units_summed_per_building() -> None:
    d = community(UNITS_PRINTED_MAX + 1)
    summed = buildings(d)
    assert [b.building for b in summed] == [str(n) for n in range(1, 13)]  # 2 before 10
    assert sum(b.units for b in summed) == len(d.units)
    for name in ("area_m2_hundredths", "opening_balance_fen", "deposits_fen", "income_fen",
                 "use_fen", "refunds_fen", "balance_fen"):
        for b in summed:
            assert getattr(b, name) == sum(getattr(u, name) for u in d.units
                                           if u.building == b.building), (name, b.building)
    html = print_html(d, ISSUE)
    assert 'id="buildings"' in html and 'id="units"' not in html
    assert len(re.findall(r"<tr><td>\d+ 号楼</td>", html)) == len(summed)
    assert ISSUE.details_url in html.replace("&amp;", "&")
    assert f"{len(d.units):,} 户" in html


def test_f10_a_community_up_to_the_bound_prints_every_unit() -> None:
    d = community(UNITS_PRINTED_MAX)
    html = print_html(d, ISSUE)
    assert 'id="units"' in html and 'id="buildings"' not in html
    assert html.count("号楼 ") == len(d.units)
