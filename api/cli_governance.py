"""Governance commands: owners' votes and elections, tallies, committees (V1–V6, C1–C4)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli_common import (
    DEFAULT_ACTOR,
    ActorOption,
    Identifier,
    answer,
    cli,
    id_option,
    ledger,
    out,
    required_date,
    run,
)
from domain.errors import InvalidInput
from domain.money import format_area, format_fen, parse_yuan
from domain.vote import TallyResult
from ledger.csv_files import read_paper_ballots

vote_cli = typer.Typer(no_args_is_help=True, help="Owners' assembly votes and elections.")
committee_cli = typer.Typer(no_args_is_help=True, help="Owners' and property management "
                                                       "committees.")
cli.add_typer(vote_cli, name="vote")
cli.add_typer(committee_cli, name="committee")


def split_vote_id(vote_id: str) -> tuple[str, str]:
    """A vote is named COMMUNITY_CODE/VOTE_REFERENCE."""
    community, _, reference = vote_id.partition("/")
    if not community or not reference:
        raise InvalidInput(f"vote id {vote_id!r} is not COMMUNITY_CODE/VOTE_REFERENCE",
                           rule="V5", field="vote_id")
    return community, reference



@vote_cli.command("propose")
def propose(
    vote_id: Identifier,
    matter: Annotated[str, typer.Option(help="fund_use, committee_election, hire_enterprise, "
                                             "raise_fund, ...")],
    title: Annotated[str, typer.Option()],
    proposed_on: Annotated[str, typer.Option()],
    building: Annotated[list[str] | None, id_option(help="Charging range (fund use).")] = None,
    unit: Annotated[list[str] | None, id_option(help="Charging range: BUILDING-UNIT.")] = None,
    amount_yuan: Annotated[str | None, typer.Option(help="Approved amount (fund use).")] = None,
    purpose: Annotated[str | None, typer.Option()] = None,
    seats: Annotated[int | None, typer.Option(help="Seats (committee election).")] = None,
    actor: ActorOption = DEFAULT_ACTOR,
) -> None:
    """Propose a vote; it must be published 15 days before it opens (V5)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    amount = run(lambda: parse_yuan(amount_yuan)) if amount_yuan else None
    on = required_date(proposed_on, "proposed_on")
    with ledger() as app:
        run(lambda: app.propose_vote(
            community_code=community, vote_reference=reference, matter_kind=matter, title=title,
            proposed_on=on, actor=actor, buildings=building or [], unit_keys=unit or [],
            approved_amount_fen=amount, purpose=purpose, seats=seats))
    answer({"id": vote_id, "matter": matter, "proposed_on": on.isoformat()})
    out.print(f"vote {vote_id} proposed")


@vote_cli.command("nominate")
def nominate(vote_id: Identifier, candidate: Identifier,
             nominated_on: Annotated[str, typer.Option()],
             ineligible: Annotated[str | None, typer.Option(
                 help="Why the candidate is ineligible (C1): the nomination is refused.")] = None,
             actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Nominate a candidate for a committee election (C1)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(nominated_on, "nominated_on")
    with ledger() as app:
        run(lambda: app.nominate_candidate(
            community_code=community, vote_reference=reference, candidate_id=candidate,
            eligible=ineligible is None, ineligibility_reason=ineligible, nominated_on=on,
            actor=actor))
    answer({"id": vote_id, "candidate": candidate})
    out.print(f"{candidate} nominated in {vote_id}")


@vote_cli.command("publish")
def publish(vote_id: Identifier, published_on: Annotated[str, typer.Option()],
            actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Publish the vote's items (V5)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(published_on, "published_on")
    with ledger() as app:
        run(lambda: app.publish_vote(community_code=community, vote_reference=reference,
                                     published_on=on, actor=actor))
    answer({"id": vote_id, "published_on": on.isoformat()})
    out.print(f"vote {vote_id} published on {on}")


@vote_cli.command("open")
def open_(vote_id: Identifier, opened_on: Annotated[str, typer.Option()],
          actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Open the vote, freezing its electorate (V3, V4)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(opened_on, "opened_on")
    with ledger() as app:
        vote = run(lambda: app.open_vote(community_code=community, vote_reference=reference,
                                         opened_on=on, actor=actor))
    assert vote.electorate_area_m2_hundredths is not None
    answer({"id": vote_id, "opened_on": on.isoformat(), "electorate_heads": vote.electorate_heads,
            "electorate_area_m2_hundredths": vote.electorate_area_m2_hundredths})
    out.print(f"vote {vote_id} open: {vote.electorate_heads} voters, "
              f"{format_area(vote.electorate_area_m2_hundredths)} m²")


@vote_cli.command("ballot")
def ballot(vote_id: Identifier, owner: Annotated[str, id_option(help="The voting owner's id.")],
           choice: Annotated[str, typer.Option(help="agree | disagree | abstain")],
           cast_on: Annotated[str, typer.Option()],
           candidate: Annotated[list[str] | None, id_option()] = None) -> None:
    """Cast one ballot; prints the receipt the voter keeps (V5: one ballot per voter)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(cast_on, "cast_on")
    with ledger() as app:
        receipt = run(lambda: app.cast_ballot(
            community_code=community, vote_reference=reference, owner_id=owner, choice=choice,
            cast_on=on, candidates=candidate or []))
    answer({"id": vote_id, "owner_id": owner, "choice": choice, "receipt": receipt})
    out.print(f"ballot accepted; receipt {receipt}")


@vote_cli.command("ballots")
def ballots(vote_id: Identifier, file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
            cast_on: Annotated[str, typer.Option()]) -> None:
    """Enter paper ballots from a CSV (owner_id,choice,candidates separated by ';'): all or none."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(cast_on, "cast_on")
    rows = run(lambda: read_paper_ballots(file))
    with ledger() as app:
        receipts = run(lambda: app.cast_ballots(community_code=community,
                                                vote_reference=reference, ballots=rows,
                                                cast_on=on))
    answer({"id": vote_id, "accepted": len(receipts), "receipts": list(receipts)})
    out.print(f"{len(receipts)} ballots accepted")


@vote_cli.command("receipt")
def receipt(vote_id: Identifier, receipt_digest: str) -> None:
    """Check a ballot receipt: is that ballot among those the tally counts?"""
    community, reference = run(lambda: split_vote_id(vote_id))
    with ledger() as app:
        vote = run(lambda: app.vote(community, reference))
        found = app.ballot_with_receipt(vote, receipt_digest)
        tallied = vote.result is not None
    answer({"id": vote_id, "receipt": receipt_digest, "found": found is not None,
            "tallied": tallied, "voter_key": found.voter_key if found else None,
            "choice": found.choice if found else None,
            "candidates": list(found.candidates) if found else []})
    if found is None:
        out.print(f"[red]no ballot of vote {vote_id} has receipt {receipt_digest}[/]")
        raise typer.Exit(1)
    state = "counted in the recorded tally" if tallied else "recorded; the vote is still open"
    out.print(f"receipt matches the ballot of voter {found.voter_key} ({found.choice}"
              + (f": {', '.join(found.candidates)}" if found.candidates else "") + f"), {state}")


@vote_cli.command("close")
def close(vote_id: Identifier, closed_on: Annotated[str, typer.Option()],
          actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Close the vote and record its tally (V6)."""
    community, reference = run(lambda: split_vote_id(vote_id))
    on = required_date(closed_on, "closed_on")
    with ledger() as app:
        result = run(lambda: app.close_vote(community_code=community, vote_reference=reference,
                                            closed_on=on, actor=actor))
    answer({"id": vote_id, "closed_on": on.isoformat(), "tally": tally_json(result)})
    print_tally(vote_id, result, None)


@vote_cli.command("tally")
def tally(vote_id: Identifier, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The four tallies, the thresholds and the outcome, recounted from the ballots and
    compared with the recorded tally."""
    community, reference = run(lambda: split_vote_id(vote_id))
    with ledger() as app:
        vote = run(lambda: app.vote(community, reference))
        recorded = vote.result
        recount = vote.recount(app.vote_count(vote)) if vote.opened else None
    if recount is None:
        raise typer.BadParameter(f"vote {vote_id} has not opened; there is nothing to count")
    matches = recorded == recount if recorded is not None else None
    # An open vote's count is a running one: ballots may still come, so no outcome yet.
    provisional = recorded is None
    if as_json:
        sys.stdout.write(json.dumps({
            "vote_id": vote_id, "status": vote.status, "provisional": provisional,
            "recount": tally_json(recount),
            "recorded": tally_json(recorded) if recorded else None,
            "recount_matches_recorded": matches}, ensure_ascii=False, indent=2) + "\n")
        return
    print_tally(vote_id, recount, matches, provisional=provisional)
    if matches is False:
        raise typer.Exit(1)


def tally_json(result: TallyResult) -> dict[str, Any]:
    data = asdict(result)
    data["quorum_met"] = result.quorum_met
    return data


def print_tally(vote_id: str, result: TallyResult, matches: bool | None, *,
                provisional: bool = False) -> None:
    q, m = result.quorum_fraction, result.majority_fraction
    table = Table("", "area m²", "heads", title=f"vote {vote_id} ({result.matter_kind})")
    table.add_row("electorate", format_area(result.electorate_area_m2_hundredths),
                  str(result.electorate_heads))
    table.add_row("participating", format_area(result.participating_area_m2_hundredths),
                  str(result.participating_heads))
    table.add_row("agreeing", format_area(result.agreeing_area_m2_hundredths),
                  str(result.agreeing_heads))
    out.print(table)
    out.print(f"quorum ≥ {q[0]}/{q[1]} of area and heads: area "
              f"{'met' if result.quorum_area_met else 'NOT met'}, heads "
              f"{'met' if result.quorum_heads_met else 'NOT met'}")
    out.print(f"majority {'≥' if result.majority_inclusive else '>'} {m[0]}/{m[1]} of "
              f"participating area and heads: area "
              f"{'met' if result.majority_area_met else 'NOT met'}, heads "
              f"{'met' if result.majority_heads_met else 'NOT met'}")
    if result.elected:
        out.print("elected: " + ", ".join(result.elected))
    if provisional:
        out.print("outcome so far: [bold]PROVISIONAL[/], the vote is not closed; as counted now "
                  f"it would {'pass' if result.passed else 'fail'}")
    else:
        out.print(f"outcome: [bold]{'PASSED' if result.passed else 'FAILED'}[/]")
    if matches is not None:
        out.print("recount from the ballots "
                  + ("matches the recorded tally" if matches
                     else "[red]DIFFERS from the recorded tally[/]"))


custody_cli = typer.Typer(no_args_is_help=True, help="Custody of the fund (F3).")
cli.add_typer(custody_cli, name="custody")


@custody_cli.command("decide")
def custody_decide(community_code: Identifier, resolution: Annotated[str, id_option()],
                   decided_on: Annotated[str, typer.Option()],
                   actor: ActorOption = DEFAULT_ACTOR) -> None:
    """The owners' meeting takes custody by a passed resolution, once it has a committee."""
    on = required_date(decided_on, "decided_on")
    with ledger() as app:
        run(lambda: app.decide_custody_transfer(community_code=community_code,
                                                resolution_id=resolution, decided_on=on,
                                                actor=actor))
    answer({"community_code": community_code, "resolution_id": resolution,
            "decided_on": on.isoformat()})
    out.print(f"custody of {community_code} passes to the owners' meeting; the balance is "
              "due to move within 30 days")


@custody_cli.command("complete")
def custody_complete(community_code: Identifier, completed_on: Annotated[str, typer.Option()],
                     actor: ActorOption = DEFAULT_ACTOR) -> None:
    """The balance has moved to the new custodian (late if after the 30 days)."""
    on = required_date(completed_on, "completed_on")
    with ledger() as app:
        moved = run(lambda: app.complete_custody_transfer(community_code=community_code,
                                                          completed_on=on, actor=actor))
    answer({"community_code": community_code, "completed_on": on.isoformat(),
            "balance_moved_fen": moved})
    out.print(f"custody of {community_code} transferred with {format_fen(moved)} yuan")


@committee_cli.command("form")
def form(community_code: Identifier, election_reference: Identifier,
         committee_reference: Identifier,
         term_start: Annotated[str, typer.Option()], term_end: Annotated[str, typer.Option()],
         party_member: Annotated[list[str] | None, id_option()] = None,
         party_branch: bool = False, actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Seat an owners' committee from a passed election (C1, C4)."""
    start, end = required_date(term_start, "term_start"), required_date(term_end, "term_end")
    with ledger() as app:
        committee = run(lambda: app.form_owners_committee(
            community_code=community_code, election_reference=election_reference,
            committee_reference=committee_reference, term_start=start, term_end=end,
            actor=actor, party_member_ids=party_member or [], party_branch_set_up=party_branch))
    answer({"community_code": community_code, "reference": committee_reference,
            "member_ids": list(committee.member_ids)})
    out.print(f"owners' committee {committee_reference}: {', '.join(committee.member_ids)}")


@committee_cli.command("file")
def file(community_code: Identifier, committee_reference: Identifier,
         filed_on: Annotated[str, typer.Option()], street_office: Annotated[str, typer.Option()],
         actor: ActorOption = DEFAULT_ACTOR) -> None:
    """File the owners' committee with the street office within 30 days (C1, C3)."""
    on = required_date(filed_on, "filed_on")
    with ledger() as app:
        run(lambda: app.file_owners_committee(
            community_code=community_code, committee_reference=committee_reference,
            filed_on=on, street_office=street_office, actor=actor))
    answer({"community_code": community_code, "reference": committee_reference,
            "filed_on": on.isoformat(), "street_office": street_office})
    out.print(f"{committee_reference} filed with {street_office} on {on}")


@committee_cli.command("party-coverage")
def party_coverage(community_code: Identifier, committee_reference: Identifier,
                   recorded_on: Annotated[str, typer.Option()],
                   party_member: Annotated[list[str] | None, id_option()] = None,
                   party_branch: bool = False, actor: ActorOption = DEFAULT_ACTOR) -> None:
    """Record the committee's party-organisation coverage (C4)."""
    on = required_date(recorded_on, "recorded_on")
    with ledger() as app:
        committee = run(lambda: app.record_party_coverage(
            community_code=community_code, committee_reference=committee_reference,
            party_member_ids=party_member or [], party_branch_set_up=party_branch,
            recorded_on=on, actor=actor))
    answer({"community_code": community_code, "reference": committee_reference,
            "party_member_count": committee.party_member_count,
            "party_branch_set_up": party_branch})
    out.print(f"{committee_reference}: {committee.party_member_count} party member(s), "
              f"party branch {'set up' if party_branch else 'not set up'}")


@committee_cli.command("member-left")
def member_left(community_code: Identifier, committee_reference: Identifier, member: Identifier,
                left_on: Annotated[str, typer.Option()], reason: str = "",
                actor: ActorOption = DEFAULT_ACTOR) -> None:
    """A member leaves; below half the seats a new election falls due (C2)."""
    on = required_date(left_on, "left_on")
    with ledger() as app:
        committee = run(lambda: app.committee_member_left(
            community_code=community_code, committee_reference=committee_reference,
            member_id=member, left_on=on, actor=actor, reason=reason))
    due = committee.reelection_due_on
    answer({"community_code": community_code, "reference": committee_reference,
            "member_id": member, "left_on": on.isoformat(),
            "reelection_due_on": due.isoformat() if due else None})
    out.print(f"{member} left {committee_reference}"
              + (f"; re-election due since {due} (C2)" if due else ""))
