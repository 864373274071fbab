"""Votes, ballots, tallies and committees over HTTP, on SQLite and on PostgreSQL.

Checks what a client sees: a vote's id, refusals as problem+json with their rule, the tally
by area and headcount equal to the ledger's recorded one, receipts, scopes as 404.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from api.http.routes_governance import tally_public
from domain.ids import roll_entry_id, vote_id
from ledger import governance
from ledger.access import Role
from tests.integration.http_support import (
    COMMUNITY,
    DISTRICT,
    OTHER,
    STREET,
    Api,
    LostAnswers,
    community_body,
    full_width,
    open_api,
    seed,
)

OWNERS = [f"owner-{COMMUNITY}-{i}" for i in range(4)]


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from open_api(db_url)


@pytest.fixture
def official(api: Api) -> str:
    """CY-A seeded with its four units paid and delivered; an official of its street."""
    seed(api)
    api.services.ledger.deliver_units(community_code=COMMUNITY, delivered_on=date(2026, 2, 10),
                                      actor="test:street-office")
    return api.token(Role.official, f"street:{STREET}")


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def last_id(api: Api) -> int:
    return api.services.ledger.recorder.max_notification_id() or 0


def open_vote(api: Api, official: str, body: dict[str, Any],
              candidates: tuple[str, ...] = ()) -> str:
    """Propose, (nominate,) publish and open a vote of CY-A; returns its id."""
    proposed = ok(api.post("/v1/votes", official, {
        "community_code": COMMUNITY, "proposed_on": "2026-03-01", **body}))
    id_ = proposed["id"]
    for candidate in candidates:
        ok(api.post(f"/v1/votes/{id_}/nominations", official,
                    {"candidate_id": candidate, "nominated_on": "2026-03-01"}))
    ok(api.post(f"/v1/votes/{id_}/publish", official, {"published_on": "2026-03-01"}))
    opened = ok(api.post(f"/v1/votes/{id_}/open", official, {"opened_on": "2026-03-16"}))
    assert opened["status"] == "open"
    assert opened["electorate_heads"] == 4
    return str(id_)


def test_a_fund_use_vote_from_proposal_to_tally_over_http(api: Api, official: str) -> None:
    proposed = ok(api.post("/v1/votes", official, {
        "community_code": COMMUNITY, "reference": "ROOF-2026", "matter_kind": "fund_use",
        "title": "Repair the roof", "proposed_on": "2026-03-01", "buildings": ["1"],
        "approved_amount_yuan": "1000.00", "purpose": "Roof waterproofing"}))
    id_ = proposed["id"]
    assert id_ == str(vote_id(COMMUNITY, "ROOF-2026"))  # the documented id scheme
    assert proposed["approved_amount_fen"] == 100_000
    assert proposed["approved_amount_yuan"] == "1000.00"
    assert proposed["status"] == "proposed"

    # V5: no vote on an unpublished item, and not within 15 days of publication
    early = api.post(f"/v1/votes/{id_}/open", official, {"opened_on": "2026-03-02"})
    assert early.status_code == 422
    assert early.headers["content-type"] == "application/problem+json"
    assert early.json()["rule"] == "V5"
    ok(api.post(f"/v1/votes/{id_}/publish", official, {"published_on": "2026-03-01"}))
    ok(api.post(f"/v1/votes/{id_}/open", official, {"opened_on": "2026-03-16"}))

    receipts = {}
    for owner, choice in zip(OWNERS[:3], ("agree", "agree", "disagree"), strict=True):
        owner_token = api.token(Role.owner, f"owner:{owner}")
        cast = ok(api.post(f"/v1/votes/{id_}/ballots", owner_token,
                           {"choice": choice, "cast_on": "2026-03-20"}))
        assert cast["owner_id"] == owner
        receipts[owner] = cast["receipt"]
    # a paper ballot, recorded by the official for its owner
    ok(api.post(f"/v1/votes/{id_}/ballots", official,
                {"owner_id": OWNERS[3], "choice": "agree", "cast_on": "2026-03-21"}))
    # V5: one ballot per voter; a second is refused, not counted twice
    again = api.post(f"/v1/votes/{id_}/ballots", official,
                     {"owner_id": OWNERS[0], "choice": "disagree", "cast_on": "2026-03-21"})
    assert again.status_code == 409 and again.json()["rule"] == "V5"

    running = ok(api.get(f"/v1/votes/{id_}/tally", official), 200)
    assert running["recorded"] is None and running["status"] == "open"
    assert running["recount"]["participating_heads"] == 4

    closed = ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    tally = ok(api.get(f"/v1/votes/{id_}/tally", official), 200)
    recorded = api.services.ledger.vote(COMMUNITY, "ROOF-2026").result
    assert recorded is not None
    ledger_tally = json.loads(tally_public(recorded, provisional=False).model_dump_json())
    assert tally["recorded"] == ledger_tally == closed["tally"]
    assert tally["recount_matches_recorded"] is True
    # by area AND by headcount (Civil Code art. 278)
    assert (tally["recorded"]["participating_heads"], tally["recorded"]["agreeing_heads"]) \
        == (4, 3)
    areas = [8050, 9050, 10050, 11050]
    assert tally["recorded"]["participating_area_m2_hundredths"] == sum(areas)
    assert tally["recorded"]["agreeing_area_m2_hundredths"] == sum(areas) - areas[2]
    assert tally["recorded"]["agreeing_area_m2"] == "281.50"
    assert tally["recorded"]["passed"] is True

    # the owner checks the receipt later: the ballot as recorded, counted in the tally
    owner_token = api.token(Role.owner, f"owner:{OWNERS[2]}")
    checked = ok(api.get(f"/v1/votes/{id_}/ballots/{receipts[OWNERS[2]]}", owner_token), 200)
    assert checked["choice"] == "disagree" and checked["counted_in_recorded_tally"] is True
    unknown = api.get(f"/v1/votes/{id_}/ballots/{'0' * 64}", owner_token)
    assert unknown.status_code == 404


def test_v3_an_owner_casts_only_their_own_ballot(api: Api, official: str) -> None:
    id_ = open_vote(api, official, {"reference": "HIRE-1", "matter_kind": "hire_enterprise",
                                    "title": "Hire a property company"})
    owner_token = api.token(Role.owner, f"owner:{OWNERS[0]}")
    before = last_id(api)
    for_another = api.post(f"/v1/votes/{id_}/ballots", owner_token, {
        "owner_id": OWNERS[1], "choice": "agree", "cast_on": "2026-03-20"})
    assert for_another.status_code == 403
    assert for_another.json()["field"] == "owner_id"
    # an owner may not record paper ballots or run the vote either
    assert api.post(f"/v1/votes/{id_}/paper-ballots", owner_token, {
        "cast_on": "2026-03-20",
        "ballots": [{"owner_id": OWNERS[1], "choice": "agree"}]}).status_code == 403
    assert api.post(f"/v1/votes/{id_}/close", owner_token,
                    {"closed_on": "2026-03-31"}).status_code == 403
    assert last_id(api) == before
    # an owner with no unit in the community does not see the vote at all
    stranger = api.token(Role.owner, "owner:someone-else")
    assert api.get(f"/v1/votes/{id_}", stranger).status_code == 404
    assert api.post(f"/v1/votes/{id_}/ballots", stranger, {
        "choice": "agree", "cast_on": "2026-03-20"}).status_code == 404
    own = ok(api.post(f"/v1/votes/{id_}/ballots", owner_token, {
        "owner_id": OWNERS[0], "choice": "agree", "cast_on": "2026-03-20"}))
    assert own["owner_id"] == OWNERS[0] and len(own["receipt"]) == 64


def test_v5_a_ballot_over_http_reads_its_vote_and_roll_entry_once(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scope check and the ballot share one read: at city scale the last evening's
    ballots arrive together, and each read twice cost twice the round trips."""
    id_ = open_vote(api, official, {"reference": "HIRE-R", "matter_kind": "hire_enterprise",
                                    "title": "Hire a property company"})
    owner_token = api.token(Role.owner, f"owner:{OWNERS[0]}")
    read: list[uuid.UUID] = []
    load_many = governance.load_many

    def counted(app: Any, ids: Any) -> Any:
        read.extend(ids)
        return load_many(app, ids)

    monkeypatch.setattr(governance, "load_many", counted)
    cast = ok(api.post(f"/v1/votes/{id_}/ballots", owner_token,
                       {"choice": "agree", "cast_on": "2026-03-20"}))
    the_vote = uuid.UUID(id_)
    assert sorted(read) == sorted([the_vote, roll_entry_id(the_vote, OWNERS[0])])
    # the same read still keeps an owner off the roll out, as if the vote were absent
    read.clear()
    stranger = api.post(f"/v1/votes/{id_}/ballots", api.token(Role.owner, "owner:nobody"),
                        {"choice": "agree", "cast_on": "2026-03-20"})
    assert stranger.status_code == 404 and stranger.json()["field"] == "id"
    assert sorted(read) == sorted([the_vote, roll_entry_id(the_vote, "nobody")])
    assert api.get(f"/v1/votes/{id_}/ballots/{cast['receipt']}", official).status_code == 200


def test_a_ballot_whose_answer_was_lost_is_answered_with_its_receipt_on_repeat(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ballot committed (with its key) and the process ended before its answer was
    stored. The voter's phone repeats the request: it must get the lost answer, the receipt
    of the ballot that counts, not be refused by that very ballot (V5); nothing is written
    again. The same for a batch of paper ballots."""
    id_ = open_vote(api, official, {"reference": "HIRE-L", "matter_kind": "hire_enterprise",
                                    "title": "Hire a property company"})
    owner_token = api.token(Role.owner, f"owner:{OWNERS[0]}")
    ballot = {"choice": "disagree", "cast_on": "2026-03-20"}
    paper = {"cast_on": "2026-03-21", "ballots": [
        {"owner_id": OWNERS[1], "choice": "agree"}, {"owner_id": OWNERS[2], "choice": "abstain"}]}
    answers = LostAnswers(api, monkeypatch)
    before = last_id(api)
    assert api.post(f"/v1/votes/{id_}/ballots", owner_token, ballot,
                    key="lost-ballot").status_code == 500
    assert api.post(f"/v1/votes/{id_}/paper-ballots", official, paper,
                    key="lost-paper").status_code == 500
    written = last_id(api)
    assert written == before + 3  # each committed: its ballots, and its key with them
    answers.restore()

    repeat = api.post(f"/v1/votes/{id_}/ballots", owner_token, ballot, key="lost-ballot")
    assert repeat.status_code == 201, repeat.text
    assert repeat.content == answers.lost[0]
    assert ok(repeat)["position"] == before + 1
    checked = ok(api.get(f"/v1/votes/{id_}/ballots/{repeat.json()['receipt']}", owner_token),
                 200)
    assert checked["choice"] == "disagree"
    papers = api.post(f"/v1/votes/{id_}/paper-ballots", official, paper, key="lost-paper")
    assert papers.status_code == 201, papers.text
    assert papers.content == answers.lost[1]
    assert ok(papers)["position"] == written  # the batch's last ballot, as the lost answer
    for receipt, choice in zip(papers.json()["receipts"], ("agree", "abstain"), strict=True):
        assert ok(api.get(f"/v1/votes/{id_}/ballots/{receipt}", official), 200)["choice"] \
            == choice
    # every later repeat replays the stored answer; nothing was written again
    again = api.post(f"/v1/votes/{id_}/ballots", owner_token, ballot, key="lost-ballot")
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == repeat.content
    assert last_id(api) == written
    # the key with another body is refused; another key is the voter's second ballot (V5)
    other = api.post(f"/v1/votes/{id_}/ballots", owner_token, {**ballot, "choice": "agree"},
                     key="lost-ballot")
    assert other.status_code == 422 and other.json()["rule"] == "idempotency-key"
    second = api.post(f"/v1/votes/{id_}/ballots", owner_token, ballot, key="second-ballot")
    assert second.status_code == 409 and second.json()["rule"] == "V5"
    assert last_id(api) == written


def test_each_step_of_a_vote_whose_answer_was_lost_answers_its_repeat_as_it_would_have(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An official's proposal, nomination, publication, opening and close, each committed
    and its answer lost: the repeat gets that answer byte for byte (the close: its tally),
    where the step itself would now refuse (it is done), and writes nothing."""
    proposal = {"community_code": COMMUNITY, "reference": "ELECT-L",
                "matter_kind": "committee_election", "title": "Elect the owners' committee",
                "proposed_on": "2026-03-01", "seats": 3}
    steps: list[tuple[str, dict[str, Any]]] = [("/v1/votes", proposal)]
    id_ = str(vote_id(COMMUNITY, "ELECT-L"))
    steps += [(f"/v1/votes/{id_}/nominations", {"candidate_id": candidate,
                                                "nominated_on": "2026-03-01"})
              for candidate in OWNERS[:3]]
    steps += [
        (f"/v1/votes/{id_}/publish", {"published_on": "2026-03-01"}),
        (f"/v1/votes/{id_}/open", {"opened_on": "2026-03-16"}),
        (f"/v1/votes/{id_}/close", {"closed_on": "2026-03-31"}),
    ]
    for number, (path, body) in enumerate(steps):
        if path.endswith("/close"):  # every owner votes, so that the tally elects
            ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
                "cast_on": "2026-03-20", "ballots": [
                    {"owner_id": o, "choice": "agree", "candidates": OWNERS[:3]}
                    for o in OWNERS]}))
        answers = LostAnswers(api, monkeypatch)
        key = f"lost-step-{number}"
        first = api.post(path, official, body, key=key)
        assert first.status_code == 500, (path, first.text)
        written = last_id(api)
        answers.restore()
        repeat = api.post(path, official, body, key=key)
        assert repeat.status_code == 201, (path, repeat.text)
        assert repeat.content == answers.lost[0], path
        assert repeat.json()["position"] == written, path
        again = api.post(path, official, body, key=key)
        assert again.headers["Idempotent-Replayed"] == "true" and again.content == repeat.content
        assert last_id(api) == written, path
    assert sorted(api.get(f"/v1/votes/{id_}", official).json()["elected"]) == OWNERS[:3]


def test_each_committee_step_whose_answer_was_lost_answers_its_repeat_as_it_would_have(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A property management committee appointed, an owners' committee formed from its
    election and filed (dissolving the first in the same save), its party coverage recorded
    and a member leaving: each committed with its answer lost, each repeat answers that
    answer byte for byte and writes nothing."""
    base = f"/v1/communities/{COMMUNITY}/committees"
    members = [{"member_id": o, "is_owner": True} for o in OWNERS] + [
        {"member_id": f"rc-{i}", "is_owner": False,
         "residents_committee_representative": i == 0} for i in range(3)]
    pmc = {"committee_reference": "PMC-L", "appointed_on": "2026-02-15", "members": members,
           "chair_id": "rc-0", "term_start": "2026-02-15", "term_end": "2029-02-14"}
    formed = {"committee_reference": "OC-L", "election_reference": "OC-ELECT",
              "term_start": "2026-04-01", "term_end": "2031-03-31", "alternate_ids": [],
              "party_member_ids": [OWNERS[0]]}
    steps: list[tuple[str, dict[str, Any]]] = [
        (f"/v1/communities/{COMMUNITY}/property-management-committees", pmc),
        (base, formed),
        (f"{base}/OC-L/filing", {"filed_on": "2026-04-15", "street_office": "Street office"}),
        (f"{base}/OC-L/party-coverage", {"recorded_on": "2026-05-01",
                                         "party_member_ids": OWNERS[:2],
                                         "party_branch_set_up": True}),
        (f"{base}/OC-L/departures", {"member_id": OWNERS[2], "left_on": "2026-06-01",
                                     "reason": "moved away"}),
    ]
    for number, (path, body) in enumerate(steps):
        if path == base:  # the election the owners' committee is formed from
            id_ = open_vote(api, official, {
                "reference": "OC-ELECT", "matter_kind": "committee_election",
                "title": "First owners' committee", "seats": 3}, candidates=tuple(OWNERS[:3]))
            ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
                "cast_on": "2026-03-20", "ballots": [
                    {"owner_id": o, "choice": "agree", "candidates": OWNERS[:3]}
                    for o in OWNERS]}))
            ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
        answers = LostAnswers(api, monkeypatch)
        key = f"lost-committee-{number}"
        first = api.post(path, official, body, key=key)
        assert first.status_code == 500, (path, first.text)
        written = last_id(api)
        answers.restore()
        repeat = api.post(path, official, body, key=key)
        assert repeat.status_code == 201, (path, repeat.text)
        assert repeat.content == answers.lost[0], path
        assert repeat.json()["position"] == written, path
        assert last_id(api) == written, path
    assert ok(api.get(f"{base}/PMC-L", official), 200)["active"] is False
    assert ok(api.get(f"{base}/OC-L", official), 200)["former_member_ids"] == [OWNERS[2]]


def test_r2_a_vote_outside_the_officials_scope_reads_as_absent(api: Api, official: str) -> None:
    id_ = open_vote(api, official, {"reference": "HIRE-2", "matter_kind": "hire_enterprise",
                                    "title": "Hire a property company"})
    elsewhere = api.token(Role.official, f"community:{OTHER}")
    absent = api.get(f"/v1/votes/{uuid.uuid4()}", elsewhere)
    hidden = api.get(f"/v1/votes/{id_}", elsewhere)
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["rule"] == absent.json()["rule"] == "V5"
    assert api.get(f"/v1/votes/{id_}/tally", elsewhere).status_code == 404
    before = last_id(api)
    assert api.post(f"/v1/votes/{id_}/close", elsewhere,
                    {"closed_on": "2026-03-31"}).status_code == 404
    assert api.post("/v1/votes", elsewhere, {
        "community_code": COMMUNITY, "reference": "X-1", "matter_kind": "hire_enterprise",
        "title": "Probe", "proposed_on": "2026-03-01"}).status_code == 404
    assert api.get(f"/v1/communities/{COMMUNITY}/committees/OC-1", elsewhere).status_code \
        == 404
    assert last_id(api) == before
    # an id that names another kind of aggregate is no vote either
    community_uuid = api.services.ledger.community(COMMUNITY).id
    assert api.get(f"/v1/votes/{community_uuid}", official).status_code == 404


def test_a_repeated_post_with_the_same_idempotency_key_writes_once(
    api: Api, official: str,
) -> None:
    body = {"community_code": COMMUNITY, "reference": "IDEM-1",
            "matter_kind": "hire_enterprise", "title": "Hire", "proposed_on": "2026-03-01"}
    first = api.post("/v1/votes", official, body, key="propose-idem-1")
    after_first = last_id(api)
    second = api.post("/v1/votes", official, body, key="propose-idem-1")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert last_id(api) == after_first
    other_body = api.post("/v1/votes", official, {**body, "title": "Other"},
                          key="propose-idem-1")
    assert other_body.status_code == 422 and other_body.json()["rule"] == "idempotency-key"
    # without the key, the ledger itself refuses a second vote under the reference
    assert api.post("/v1/votes", official, body).status_code == 409


def test_unknown_fields_and_numeric_amounts_are_refused(api: Api, official: str) -> None:
    body = {"community_code": COMMUNITY, "reference": "R-1", "matter_kind": "fund_use",
            "title": "Roof", "proposed_on": "2026-03-01", "buildings": ["1"]}
    assert api.post("/v1/votes", official, {**body, "status": "closed"}).status_code == 422
    assert api.post("/v1/votes", official,
                    {**body, "approved_amount_yuan": 1000}).status_code == 422


def test_an_election_seats_a_committee_that_is_filed_and_followed(
    api: Api, official: str,
) -> None:
    base = f"/v1/communities/{COMMUNITY}/committees"
    # C3: a property management committee serves until an owners' committee is filed
    members = [{"member_id": o, "is_owner": True} for o in OWNERS] + [
        {"member_id": f"rc-{i}", "is_owner": False,
         "residents_committee_representative": i == 0} for i in range(3)]
    pmc = ok(api.post(f"/v1/communities/{COMMUNITY}/property-management-committees", official, {
        "committee_reference": "PMC-1", "appointed_on": "2026-02-15", "members": members,
        "chair_id": "rc-0", "term_start": "2026-02-15", "term_end": "2029-02-14"}))
    assert (pmc["kind"], pmc["seats"], pmc["active"]) == ("property_management_committee", 7,
                                                          True)
    id_ = open_vote(api, official, {"reference": "OC-2026", "matter_kind": "committee_election",
                                    "title": "First owners' committee", "seats": 3},
                    candidates=tuple(OWNERS[:3]))
    ineligible = api.post(f"/v1/votes/{id_}/nominations", official, {
        "candidate_id": OWNERS[3], "nominated_on": "2026-03-01",
        "ineligibility_reason": "employed by the serving property company"})
    assert ineligible.status_code == 422 and ineligible.json()["rule"] in ("C1", "V5")
    # Half the paper ballots as typed with a Chinese input method: full-width ids.
    paper = ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
        "cast_on": "2026-03-20",
        "ballots": [{"owner_id": full_width(o) if i % 2 else o, "choice": "agree",
                     "candidates": [full_width(c) if i % 2 else c for c in OWNERS[:3]]}
                    for i, o in enumerate(OWNERS)]}))
    assert len(paper["receipts"]) == 4
    closed = ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    assert sorted(closed["tally"]["elected"]) == OWNERS[:3]

    formed = ok(api.post(base, official, {
        "committee_reference": "OC-1", "election_reference": "OC-2026",
        "term_start": "2026-04-01", "term_end": "2031-03-31",
        "alternate_ids": [], "party_member_ids": [OWNERS[0]]}))
    assert formed["kind"] == "owners_committee" and formed["seats"] == 3
    ok(api.post(f"{base}/OC-1/filing", official,
                {"filed_on": "2026-04-15", "street_office": "Street office"}))
    dissolved = ok(api.get(f"{base}/PMC-1", official), 200)
    assert (dissolved["dissolved_on"], dissolved["active"]) == ("2026-04-15", False)
    covered = ok(api.post(f"{base}/OC-1/party-coverage", official, {
        "recorded_on": "2026-05-01", "party_member_ids": OWNERS[:2],
        "party_branch_set_up": True}))
    assert covered["party_member_count"] == 2
    left = ok(api.post(f"{base}/OC-1/departures", official, {
        "member_id": OWNERS[2], "left_on": "2026-06-01", "reason": "moved away"}))
    assert OWNERS[2] in left["former_member_ids"]
    read = ok(api.get(f"{base}/OC-1", official), 200)
    assert read["filed_on"] == "2026-04-15" and read["street_office"] == "Street office"
    assert [m["member_id"] for m in read["members"]] == OWNERS[:2]
    assert read == {k: v for k, v in left.items() if k not in ("written", "position")}
    assert api.get(f"{base}/OC-404", official).status_code == 404
    auditor = api.token(Role.auditor, "city")
    assert ok(api.get(f"{base}/OC-1", auditor), 200)["reference"] == "OC-1"


def test_f3_custody_passes_to_the_owners_meeting_by_a_resolution(api: Api, official: str) -> None:
    base = f"/v1/communities/{COMMUNITY}"
    id_ = open_vote(api, official, {"reference": "CUSTODY-1", "matter_kind": "other_ordinary",
                                    "title": "The owners' meeting takes custody"})
    ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
        "cast_on": "2026-03-20", "ballots": [{"owner_id": o, "choice": "agree"}
                                             for o in OWNERS]}))
    ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    decision = {"resolution_id": "CUSTODY-1", "decided_on": "2026-04-01"}
    no_committee = api.post(f"{base}/custody-transfer", official, decision)
    assert no_committee.status_code == 422 and no_committee.json()["rule"] == "F3"
    ledger = api.services.ledger
    community = ledger.community(COMMUNITY)  # an owners' committee, formed elsewhere
    community.record_committee(kind="owners_committee", committee_reference="OC-X",
                               effective_date=date(2026, 4, 1), actor="test")
    ledger.save(community)
    decided = ok(api.post(f"{base}/custody-transfer", official, decision))
    assert decided["custodian"] == "city_fund_office"
    assert decided["transfer_pending"]["due_by"] == "2026-05-01"
    held = sum(ledger.unit_account(COMMUNITY, *ledger.community(COMMUNITY).units[k])
               .balance_fen for k in ledger.community(COMMUNITY).units)
    custodian = api.token(Role.custodian, f"community:{COMMUNITY}")
    moved = ok(api.post(f"{base}/custody-transfer/completion", custodian,
                        {"completed_on": "2026-04-20"}))
    assert moved["custodian"] == "owners_meeting" and moved["transfer_pending"] is None
    assert held > 0 and moved["balance_moved_fen"] == held
    assert moved["balance_moved_yuan"] == f"{held // 100}.{held % 100:02d}"


def test_f3_custody_steps_whose_answers_were_lost_answer_their_repeats_as_they_would_have(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The custody decision and its completion (with the balance moved), each committed with
    its answer lost: each repeat answers that answer byte for byte and writes nothing."""
    base = f"/v1/communities/{COMMUNITY}"
    id_ = open_vote(api, official, {"reference": "CUSTODY-L", "matter_kind": "other_ordinary",
                                    "title": "The owners' meeting takes custody"})
    ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
        "cast_on": "2026-03-20", "ballots": [{"owner_id": o, "choice": "agree"}
                                             for o in OWNERS]}))
    ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    ledger = api.services.ledger
    community = ledger.community(COMMUNITY)  # an owners' committee, formed elsewhere
    community.record_committee(kind="owners_committee", committee_reference="OC-X",
                               effective_date=date(2026, 4, 1), actor="test")
    ledger.save(community)
    custodian = api.token(Role.custodian, f"community:{COMMUNITY}")
    for number, (token, path, body) in enumerate((
            (official, f"{base}/custody-transfer",
             {"resolution_id": "CUSTODY-L", "decided_on": "2026-04-01"}),
            (custodian, f"{base}/custody-transfer/completion", {"completed_on": "2026-04-20"}))):
        answers = LostAnswers(api, monkeypatch)
        first = api.post(path, token, body, key=f"lost-custody-{number}")
        assert first.status_code == 500, (path, first.text)
        written = last_id(api)
        answers.restore()
        repeat = api.post(path, token, body, key=f"lost-custody-{number}")
        assert repeat.status_code == 201, (path, repeat.text)
        assert repeat.content == answers.lost[0], path
        assert last_id(api) == written, path
    assert repeat.json()["balance_moved_fen"] > 0
    assert repeat.json()["custodian"] == "owners_meeting"


def test_r1_self_management_whose_answer_was_lost_answers_its_repeat_as_it_would_have(
    api: Api, official: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    id_ = open_vote(api, official, {"reference": "SELF-L", "matter_kind": "other_ordinary",
                                    "title": "The owners manage the community themselves"})
    ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
        "cast_on": "2026-03-20", "ballots": [{"owner_id": o, "choice": "agree"}
                                             for o in OWNERS]}))
    ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    path = f"/v1/communities/{COMMUNITY}/self-management"
    body = {"resolution_id": "SELF-L", "started_on": "2026-04-01"}
    answers = LostAnswers(api, monkeypatch)
    assert api.post(path, official, body, key="lost-self").status_code == 500
    written = last_id(api)
    answers.restore()
    repeat = api.post(path, official, body, key="lost-self")
    assert repeat.status_code == 201, repeat.text
    assert repeat.content == answers.lost[0] and repeat.json()["position"] == written
    assert last_id(api) == written


def _register_with_developer_unit(api: Api, code: str) -> str:
    """A community registered over HTTP: owners' units 101-103 and the developer's unsold
    104, each with its first deposit paid; none delivered yet. Returns a registrar token."""
    registrar = api.token(Role.official, f"street:{STREET}")
    owners = [[f"owner-{code}-{i}"] for i in range(3)] + [["developer"]]
    body = community_body(code, DISTRICT, STREET)
    for unit, owner_ids in zip(body["units"], owners, strict=True):
        unit["owner_ids"] = owner_ids
    ok(api.post("/v1/communities", registrar, body))
    custodian = api.token(Role.custodian, f"community:{code}")
    for i in range(4):
        ok(api.post(f"/v1/communities/{code}/deposits", custodian, {
            "reference": f"FIRST-{code}-{i}", "building": "1", "unit": f"{101 + i}",
            "amount_yuan": f"{16100 + 2000 * i}.00", "paid_on": "2026-02-01",
            "kind": "first"}))
    return registrar


def test_v3_delivery_over_http_decides_who_votes_and_the_developer_votes_for_the_rest(
    api: Api,
) -> None:
    code = "CY-DEV"
    registrar = _register_with_developer_unit(api, code)
    base = f"/v1/communities/{code}/units/1"
    delivery = {"delivered_on": "2026-02-10"}
    response = api.post(f"{base}/101/delivery", registrar, delivery, key="deliver-101")
    first = ok(response)
    assert first["written"] == "delivery" and first["position"] > 0
    assert (first["building"], first["unit"], first["already_delivered"]) == ("1", "101", False)
    replayed = api.post(f"{base}/101/delivery", registrar, delivery, key="deliver-101")
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    assert replayed.content == response.content
    again = ok(api.post(f"{base}/101/delivery", registrar, delivery))
    assert (again["already_delivered"], again["position"]) == (True, None)
    ok(api.post(f"{base}/102/delivery", registrar, delivery))
    assert api.services.ledger.unit_account(code, "1", "102").delivered
    # 103 stays undelivered: its buyer does not vote yet, the developer votes for it (V3)

    vote = ok(api.post("/v1/votes", registrar, {
        "community_code": code, "reference": "HIRE-DEV", "matter_kind": "hire_enterprise",
        "title": "Hire a property company", "proposed_on": "2026-03-01"}))
    id_ = vote["id"]
    ok(api.post(f"/v1/votes/{id_}/publish", registrar, {"published_on": "2026-03-01"}))
    opened = ok(api.post(f"/v1/votes/{id_}/open", registrar, {"opened_on": "2026-03-16"}))
    assert opened["electorate_heads"] == 3  # two delivered owners and the developer

    # Every community's unsold units carry the owner id "developer": a developer's token
    # names its community (owner:developer alone is not made, and would hold nothing).
    developer = api.token(Role.owner, f"owner:developer/{code}")
    assert ok(api.get(f"/v1/votes/{id_}", developer), 200)["id"] == id_
    deadline = time.monotonic() + 10  # the vote list is a view's: once it lists the vote
    while not api.get("/v1/votes", developer).json()["items"]:
        assert time.monotonic() < deadline, "the vote list never showed the developer's vote"
        time.sleep(0.05)
    assert [v["id"] for v in api.get("/v1/votes", developer).json()["items"]] == [id_]
    assert ok(api.get(f"{base}/104/account", developer), 200)["balance_fen"] > 0
    for elsewhere in (api.token(Role.owner, "owner:developer/CY-OTHER"),
                      api.token(Role.owner, "owner:developer")):
        assert api.get(f"/v1/votes/{id_}", elsewhere).status_code == 404
        assert api.post(f"/v1/votes/{id_}/ballots", elsewhere,
                        {"choice": "disagree", "cast_on": "2026-03-20"}).status_code == 404
        assert api.get("/v1/votes", elsewhere).json()["items"] == []
        assert api.get(f"{base}/104/account", elsewhere).status_code == 404
    cast = ok(api.post(f"/v1/votes/{id_}/ballots", developer,
                       {"choice": "agree", "cast_on": "2026-03-20"}))
    assert cast["owner_id"] == "developer"
    checked = ok(api.get(f"/v1/votes/{id_}/ballots/{cast['receipt']}", developer), 200)
    assert checked["voter_key"] == "developer"
    buyer = api.token(Role.owner, f"owner:owner-{code}-2")
    assert api.post(f"/v1/votes/{id_}/ballots", buyer,
                    {"choice": "agree", "cast_on": "2026-03-20"}).status_code == 404
    running = ok(api.get(f"/v1/votes/{id_}/tally", registrar), 200)["recount"]
    developer_area = 10050 + 11050  # 103, undelivered, and 104, unsold
    assert (running["participating_heads"], running["participating_area_m2_hundredths"]) \
        == (1, developer_area)


def test_f2_a_unit_is_not_delivered_over_http_before_its_first_deposit(api: Api) -> None:
    registrar = api.token(Role.official, f"street:{STREET}")
    ok(api.post("/v1/communities", registrar, community_body("CY-NEW", DISTRICT, STREET)))
    before = last_id(api)
    refused = api.post("/v1/communities/CY-NEW/units/1/101/delivery", registrar,
                       {"delivered_on": "2026-02-10"})
    assert refused.status_code == 422 and refused.json()["rule"] == "F2"
    assert last_id(api) == before
    unknown = api.post("/v1/communities/CY-NEW/units/1/999/delivery", registrar,
                       {"delivered_on": "2026-02-10"})
    assert unknown.status_code == 404


def test_v6_a_vote_not_closed_claims_no_outcome(api: Api, official: str) -> None:
    proposed = ok(api.post("/v1/votes", official, {
        "community_code": COMMUNITY, "reference": "OUTCOME-1", "matter_kind": "other_ordinary",
        "title": "Paint the hall", "proposed_on": "2026-03-01"}))
    id_ = proposed["id"]
    for answer in (proposed, ok(api.get(f"/v1/votes/{id_}", official), 200)):
        assert (answer["status"], answer["provisional"]) == ("proposed", True)
        assert answer["passed"] is None and answer["elected"] is None
    ok(api.post(f"/v1/votes/{id_}/publish", official, {"published_on": "2026-03-01"}))
    opened = ok(api.post(f"/v1/votes/{id_}/open", official, {"opened_on": "2026-03-16"}))
    assert (opened["passed"], opened["provisional"]) == (None, True)
    ok(api.post(f"/v1/votes/{id_}/paper-ballots", official, {
        "cast_on": "2026-03-20", "ballots": [{"owner_id": o, "choice": "agree"}
                                             for o in OWNERS]}))
    running = ok(api.get(f"/v1/votes/{id_}/tally", official), 200)
    # as counted now it would pass, and the report says that this is no outcome yet
    assert (running["provisional"], running["recorded"]) == (True, None)
    assert running["recount"]["provisional"] is True and running["recount"]["passed"] is True
    assert ok(api.get(f"/v1/votes/{id_}", official), 200)["passed"] is None

    closed = ok(api.post(f"/v1/votes/{id_}/close", official, {"closed_on": "2026-03-31"}))
    assert closed["tally"]["provisional"] is False and closed["tally"]["passed"] is True
    final = ok(api.get(f"/v1/votes/{id_}/tally", official), 200)
    assert final["provisional"] is False
    assert final["recount"]["provisional"] is final["recorded"]["provisional"] is False
    read = ok(api.get(f"/v1/votes/{id_}", official), 200)
    assert (read["status"], read["provisional"], read["passed"], read["elected"]) \
        == ("closed", False, True, [])
