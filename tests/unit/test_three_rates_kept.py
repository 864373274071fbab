"""What a batch changes in the three-rates view's kept counts and year changes."""

from __future__ import annotations

from datetime import date

from projections.three_rates_kept import (
    CommunityFlags,
    count_changes,
    year_change_rows,
    year_changes,
)


def test_a_history_counts_from_its_first_row_each_row_replacing_the_one_before() -> None:
    history = [(date(2020, 3, 1), False, False, False), (date(2021, 5, 1), True, False, False),
               (date(2021, 9, 1), True, True, True), (date(2023, 1, 1), False, True, False)]
    assert year_changes(history) == {2020: [1, 0, 0, 0], 2021: [0, 1, 1, 1],
                                     2023: [0, -1, 0, -1]}


def test_a_back_dated_committee_moves_its_change_to_the_earlier_year() -> None:
    places = {"CY-1": ("D1", "S1")}
    old = [("CY-1", date(2020, 1, 1), False, False, False),
           ("CY-1", date(2022, 6, 1), True, False, False)]
    new = [("CY-1", date(2020, 1, 1), False, False, False),
           ("CY-1", date(2021, 6, 1), True, False, False)]
    assert year_change_rows(places, old, new) == [("D1", "S1", 2021, 0, 1, 0, 0),
                                                  ("D1", "S1", 2022, 0, -1, 0, 0)]
    # Unchanged history changes nothing; a code with no registered community counts nowhere.
    assert year_change_rows(places, old, old) == []
    assert year_change_rows({}, [], new) == []


def test_a_street_counts_a_community_once_and_complete_only_with_all_three() -> None:
    before = [CommunityFlags("CY-1", "D1", "S1", True, True, False)]
    after = [CommunityFlags("CY-1", "D1", "S1", True, True, True),
             CommunityFlags("CY-2", "D1", "S2", False, False, False)]
    assert count_changes(before, after) == [("D1", "S1", 0, 0, 0, 1, 1),
                                            ("D1", "S2", 1, 0, 0, 0, 0)]
    assert count_changes(after, after) == []
