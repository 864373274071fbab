"""Ballots in streams of their own (issue 16), on both stores: one ballot per voter held by
the store's uniqueness when two arrive at once, a ballot racing the close either counted or
refused (V5) in both orders, replay at a date, and votes recorded in the old shape.

The races are forced, not hoped for: each ledger's save waits at a barrier until both
commands have read and decided, then the saves go in the order under test.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore

from api.demo import build_demo
from domain.errors import Conflict, DomainError
from domain.ids import ballot_id, vote_id
from domain.vote import AGREE, DISAGREE, TallyResult
from ledger.application import FundLedger
from ledger.governance import receipt_reference
from ledger.loading import load_many
from ledger.settings import Settings
from projections.history.replay import replay
from tests.integration.test_governance_ledger import (  # noqa: F401 (the app fixture)
    ACTOR,
    CODE,
    app,
    ballot,
    last_id,
    open_fund_vote,
)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "demo_votes_inline_shape.jsonl.gz"
DEMO_COMMUNITY = "CY-0003"
DEMO_VOTES = ("OC-ELECTION-2026", "FUND-2026-PUMPS-B2")


# -- forcing an interleaving ----------------------------------------------------------------


class Gate:
    """Holds each ledger's first save until every party has decided, then lets the saves
    through in ``order`` (one party's save completes before the next one's starts)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.decided = threading.Barrier(len(order), timeout=30)
        self.turns = {name: threading.Event() for name in order}
        self.turns[order[0]].set()

    def hold(self, ledger: FundLedger, name: str) -> None:
        real_save = ledger._save
        first = [True]

        def save(*args: Any, **kwargs: Any) -> Any:
            if not first[0]:
                return real_save(*args, **kwargs)  # a retry: no longer part of the race
            first[0] = False
            self.decided.wait()
            assert self.turns[name].wait(timeout=30)
            try:
                return real_save(*args, **kwargs)
            finally:
                self._next(name)

        ledger._save = save  # type: ignore[method-assign]

    def _next(self, name: str) -> None:
        index = self.order.index(name)
        if index + 1 < len(self.order):
            self.turns[self.order[index + 1]].set()


def run_all(commands: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each command on its own thread; what each returned, or the error it raised."""
    outcomes: dict[str, Any] = {}

    def run(name: str, command: Callable[[], Any]) -> None:
        try:
            outcomes[name] = command()
        except Exception as error:  # the outcome under test, whatever it is
            outcomes[name] = error

    threads = [threading.Thread(target=run, args=item) for item in commands.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def cast_by(ledger: FundLedger, reference: str, owner: str, choice: str) -> Callable[[], str]:
    return lambda: ledger.cast_ballot(community_code=CODE, vote_reference=reference,
                                      owner_id=owner, choice=choice, cast_on=date(2026, 3, 20))


def close_by(ledger: FundLedger, reference: str) -> Callable[[], TallyResult]:
    return lambda: ledger.close_vote(community_code=CODE, vote_reference=reference,
                                     closed_on=date(2026, 3, 31), actor=ACTOR)


# -- V5 under concurrency -------------------------------------------------------------------


@pytest.mark.parametrize("first", ["c1", "c2"])
def test_v5_two_ballots_of_one_voter_at_the_same_instant_one_lands_the_other_is_refused(
    app: FundLedger, open_ledger: Callable[[], FundLedger], first: str,  # noqa: F811
) -> None:
    """c1 and c2 co-own one flat: one voter (V3). Both ballots pass every check on the same
    state; the store takes the first and refuses the second, naming V5."""
    open_fund_vote(app, "PUMP-R", buildings=["2"], amount_fen=50_000)
    second = "c2" if first == "c1" else "c1"
    ledgers = {first: open_ledger(), second: open_ledger()}
    gate = Gate([first, second])
    for name, ledger in ledgers.items():
        gate.hold(ledger, name)
    outcomes = run_all({first: cast_by(ledgers[first], "PUMP-R", first, AGREE),
                        second: cast_by(ledgers[second], "PUMP-R", second, DISAGREE)})

    assert isinstance(outcomes[first], str)  # the receipt
    refused = outcomes[second]
    assert isinstance(refused, Conflict), refused
    assert refused.rule == "V5" and "already voted" in refused.message
    count = app.vote_count(app.vote(CODE, "PUMP-R"))
    assert {k: b.choice for k, b in count.ballots.items()} == {"c1+c2": AGREE}
    assert count.receipt_for("c1+c2") == outcomes[first]


# -- a ballot racing the close --------------------------------------------------------------


def test_v5_a_ballot_saved_while_the_close_was_deciding_is_counted(
    app: FundLedger, open_ledger: Callable[[], FundLedger],  # noqa: F811
) -> None:
    """The close read the ballots before s3's ballot committed: its mark for s3 collides, and
    it counts again, with s3's ballot."""
    open_fund_vote(app, "ROOF-R1", buildings=["1"], amount_fen=100_000)
    ballot(app, "ROOF-R1", "big", AGREE)
    voter, closer = open_ledger(), open_ledger()
    gate = Gate(["ballot", "close"])
    gate.hold(voter, "ballot")
    gate.hold(closer, "close")
    outcomes = run_all({"ballot": cast_by(voter, "ROOF-R1", "s3", DISAGREE),
                        "close": close_by(closer, "ROOF-R1")})

    receipt, result = outcomes["ballot"], outcomes["close"]
    assert isinstance(receipt, str) and isinstance(result, TallyResult), outcomes
    assert (result.participating_heads, result.agreeing_heads) == (2, 1)
    vote = app.vote(CODE, "ROOF-R1")
    count = app.vote_count(vote)
    assert vote.result == result == vote.recount(count)
    assert count.receipt_for("s3") == receipt


def test_v5_a_ballot_arriving_after_the_close_recorded_its_tally_is_refused(
    app: FundLedger, open_ledger: Callable[[], FundLedger],  # noqa: F811
) -> None:
    """s3's ballot passed its checks while the vote was open, but the close's mark in s3's
    stream committed first: refused naming V5, and the tally stands without it."""
    open_fund_vote(app, "ROOF-R2", buildings=["1"], amount_fen=100_000)
    ballot(app, "ROOF-R2", "big", AGREE)
    voter, closer = open_ledger(), open_ledger()
    gate = Gate(["close", "ballot"])
    gate.hold(voter, "ballot")
    gate.hold(closer, "close")
    outcomes = run_all({"ballot": cast_by(voter, "ROOF-R2", "s3", DISAGREE),
                        "close": close_by(closer, "ROOF-R2")})

    refused, result = outcomes["ballot"], outcomes["close"]
    assert isinstance(result, TallyResult), outcomes
    assert isinstance(refused, Conflict) and refused.rule == "V5", refused
    assert "closed" in refused.message
    assert (result.participating_heads, result.agreeing_heads) == (1, 1)
    vote = app.vote(CODE, "ROOF-R2")
    count = app.vote_count(vote)
    assert vote.result == result == vote.recount(count)
    assert set(count.ballots) == {"big"}
    # Every voter of the roll has exactly one record: a ballot or the close's mark.
    records = load_many(app, [ballot_id(vote.id, k) for k in count.electorate.voter_keys])
    assert len(records) == len(count.electorate.voters) == 4
    # And later ballots are refused by the vote's own state, writing nothing.
    before = last_id(app)
    with pytest.raises(DomainError) as late:
        ballot(app, "ROOF-R2", "s2", AGREE)
    assert late.value.rule == "V5"
    assert last_id(app) == before


def test_v5_ballots_racing_a_close_freely_are_each_counted_or_refused(
    app: FundLedger, open_ledger: Callable[[], FundLedger],  # noqa: F811
) -> None:
    """No forced order: whatever lands is in the recorded tally, whatever does not was
    refused naming V5."""
    open_fund_vote(app, "ROOF-R3", buildings=["1", "2"], amount_fen=100_000)
    owners = ["big", "s1", "s2", "s3", "c1", "multi", "developer"]
    ledgers = [open_ledger() for _ in range(3)]

    def casting(n: int, owner: str) -> Callable[[], list[str]]:
        return lambda: [ledgers[n % 2].cast_ballot(
            community_code=CODE, vote_reference="ROOF-R3", owner_id=owner, choice=AGREE,
            cast_on=date(2026, 3, 20))]

    commands: dict[str, Callable[[], Any]] = {
        owner: casting(n, owner) for n, owner in enumerate(owners)}
    commands["close"] = close_by(ledgers[2], "ROOF-R3")
    outcomes = run_all(commands)

    result = outcomes["close"]
    assert isinstance(result, TallyResult), outcomes
    landed = [o for o in owners if isinstance(outcomes[o], list)]
    refused = [outcomes[o] for o in owners if not isinstance(outcomes[o], list)]
    assert all(isinstance(e, DomainError) and e.rule == "V5" for e in refused), refused
    assert result.participating_heads == len(landed)
    vote = app.vote(CODE, "ROOF-R3")
    assert vote.recount(app.vote_count(vote)) == result


# -- replay at a date -----------------------------------------------------------------------


def test_a_vote_replays_with_the_ballots_dated_by_the_cut(app: FundLedger) -> None:  # noqa: F811
    open_fund_vote(app, "ROOF-P", buildings=["1"], amount_fen=100_000)
    for owner, day in (("big", 17), ("s1", 20), ("s2", 25)):
        app.cast_ballot(community_code=CODE, vote_reference="ROOF-P", owner_id=owner,
                        choice=AGREE, cast_on=date(2026, 3, day))
    app.close_vote(community_code=CODE, vote_reference="ROOF-P", closed_on=date(2026, 3, 31),
                   actor=ACTOR)
    key = f"{CODE}/ROOF-P"
    on_the_20th = replay(app, "vote", key, as_of=date(2026, 3, 20))
    assert on_the_20th.state["status"] == "open"
    assert sorted(on_the_20th.state["ballots"]) == ["big", "s1"]
    assert on_the_20th.state["last_ballot_on"] == "2026-03-20"
    assert on_the_20th.state["electorate"]["voters"][0]["voter_key"] == "big"
    now = replay(app, "vote", key)
    assert now.state["status"] == "closed" and sorted(now.state["ballots"]) == [
        "big", "s1", "s2"]
    # The vote's 4 events, the roll's, 3 ballots and the close's mark for s3.
    assert now.events_included == 4 + 1 + 3 + 1
    before_opening = replay(app, "vote", key, as_of=date(2026, 3, 10))
    assert before_opening.state["status"] == "published"
    assert "ballots" not in before_opening.state or not before_opening.state["ballots"]


# -- votes recorded before issue 16 ---------------------------------------------------------


@pytest.fixture
def other_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second empty store of the same kind as ``db_url``."""
    if not db_url.startswith("postgres"):
        yield str(tmp_path / "other.db")
        return
    database = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{database}?schema={schema}"
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_the_demo_s_votes_recorded_in_the_old_shape_tally_as_the_new_shape_does(
    open_ledger: Callable[[], FundLedger], other_url: str, tmp_path: Path,
) -> None:
    """The fixture is the demo's two votes as the ledger before issue 16 recorded them
    (commit b9f0de2's ``fundledger demo``: electorate inside ``Opened``, ballots as the
    vote's own ``BallotCast`` events). Read by this ledger they recount to their recorded
    tallies and keep their receipts; and the same demo recorded in the new shape tallies
    identically, ballot for ballot."""
    new = open_ledger()
    build_demo(new, tmp_path)
    old = FundLedger(Settings(db=other_url))
    try:
        with gzip.open(FIXTURE, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines]
        old.recorder.insert_events([
            StoredEvent(UUID(r["originator_id"]), r["originator_version"], r["topic"],
                        r["state"].encode()) for r in rows])
        for reference in DEMO_VOTES:
            before = old.vote(DEMO_COMMUNITY, reference)
            assert before.ballots_inline and before.result is not None
            old_count = old.vote_count(before)
            assert before.recount(old_count) == before.result

            after = new.vote(DEMO_COMMUNITY, reference)
            assert not after.ballots_inline and after.id == vote_id(DEMO_COMMUNITY, reference)
            new_count = new.vote_count(after)
            assert after.result == before.result == after.recount(new_count)
            assert new_count.electorate == old_count.electorate
            assert new_count.ballots == old_count.ballots
        # Receipts the old ledger handed out still check (two printed by b9f0de2's demo).
        fund = old.vote_count(old.vote(DEMO_COMMUNITY, "FUND-2026-PUMPS-B2"))
        assert fund.receipt_for("developer") == (
            "bf01189e7a18f8f8757bc08ce419e85a1084565fe0af29319b071fa3c3067577")
        election = old.vote_count(old.vote(DEMO_COMMUNITY, "OC-ELECTION-2026"))
        assert election.receipt_for("owner-005aa9efc6d6") == (
            "8a468f9d9e30f6e6b9a9fe9a46e25c8eadde33bce251e6addf599ee81f3e5266")
        assert old.vote(DEMO_COMMUNITY, "FUND-2026-PUMPS-B2").withdrawn_fen == (
            new.vote(DEMO_COMMUNITY, "FUND-2026-PUMPS-B2").withdrawn_fen)
    finally:
        old.close()


def test_the_ballots_cast_count_reads_first_events_and_leaves_out_the_closes_marks(
    app: FundLedger,  # noqa: F811
) -> None:
    """GET /v1/votes/{id}'s count: the ballot streams begun by a cast, not those the close
    began to refuse a later ballot; the same as counting the loaded ballots."""
    open_fund_vote(app, "COUNT", buildings=["1"], amount_fen=100_000)
    assert app.ballots_cast(app.vote(CODE, "COUNT")) == 0
    ballot(app, "COUNT", "big", AGREE)
    assert app.ballots_cast(app.vote(CODE, "COUNT")) == 1
    ballot(app, "COUNT", "s3", DISAGREE)
    close_by(app, "COUNT")()
    vote = app.vote(CODE, "COUNT")
    marks = [b for b in load_many(app, [ballot_id(vote.id, key) for key in
                                        app.vote_count(vote).electorate.voter_keys]).values()
             if not b.was_cast]
    assert marks, "the close marked the voters who did not vote"
    assert app.ballots_cast(vote) == len(app.vote_count(vote).ballots) == 2


def test_a_receipt_is_found_by_its_reference_and_one_without_by_the_whole_count(
    app: FundLedger, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    """A ballot's receipt is recorded with it: checking it reads that ballot alone. A ballot
    recorded before receipts were (its reference missing) is still found, among them all;
    in a closed vote, from those few, remembered."""
    open_fund_vote(app, "RECEIPT", buildings=["1"], amount_fen=100_000)
    indexed = ballot(app, "RECEIPT", "big", AGREE)
    older = ballot(app, "RECEIPT", "s3", DISAGREE)
    vote = app.vote(CODE, "RECEIPT")
    counted = app.vote_count(vote)
    delete_reference(app, receipt_reference(vote.id, older))

    def no_whole_count(_: Any) -> Any:
        raise AssertionError("the whole count was loaded")

    with monkeypatch.context() as patched:
        patched.setattr(app, "vote_count", no_whole_count)
        assert app.ballot_with_receipt(vote, indexed) == counted.ballot_with_receipt(indexed)
    assert app.ballot_with_receipt(vote, older) == counted.ballot_with_receipt(older)
    assert app.ballot_with_receipt(vote, older) is not None
    assert app.ballot_with_receipt(vote, "0" * 64) is None

    # Closed, its ballots are fixed: the whole count is read once for the ballots without
    # a reference, and a mistyped receipt never reads it again.
    close_by(app, "RECEIPT")()
    closed = app.vote(CODE, "RECEIPT")
    assert app.ballot_with_receipt(closed, "1" * 64) is None
    with monkeypatch.context() as patched:
        patched.setattr(app, "vote_count", no_whole_count)
        assert app.ballot_with_receipt(closed, "2" * 64) is None
        assert app.ballot_with_receipt(closed, older) == counted.ballot_with_receipt(older)
        assert app.ballot_with_receipt(closed, indexed) == counted.ballot_with_receipt(indexed)


def delete_reference(ledger: FundLedger, reference: str) -> None:
    """As a ledger written before receipts were recorded would be: no row for this one."""
    datastore: Any = ledger.recorder.datastore  # type: ignore[attr-defined]
    if isinstance(datastore, PostgresDatastore):
        with datastore.get_connection() as conn:
            conn.execute(f'DELETE FROM "{datastore.schema}".posting_references '
                         "WHERE reference = %s", (reference,))
            conn.commit()
    else:
        with datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM posting_references WHERE reference = ?", (reference,))
