"""Notices of an owner's community, newest first: votes published, opened and decided, and
works paid from the fund. Read from the aggregates the log builds (the votes the audit view
lists, the community's posting documents), so a notice is there as soon as its event is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.posting import WorksWithdrawal
from domain.vote import Vote
from ledger.application import FundLedger
from projections.audit import AuditProjection
from projections.history.statements import postings

NOTICES_MAX = 50
_VOTES_SCANNED_MAX = 1_000


@dataclass(frozen=True)
class Notice:
    on: date
    kind: str  # published, opened, result, withdrawal
    values: dict[str, Any]
    vote_id: str | None = None


def _vote_notices(vote: Vote) -> list[Notice]:
    found = []
    common = {"title": vote.title, "matter": vote.matter_kind}
    if vote.published_on is not None:
        found.append(Notice(vote.published_on, "published",
                            {**common, "opens": vote.opened_on}, str(vote.id)))
    if vote.opened_on is not None:
        found.append(Notice(vote.opened_on, "opened", common, str(vote.id)))
    if vote.closed_on is not None and vote.result is not None:
        found.append(Notice(vote.closed_on, "result", {**common, "passed": vote.result.passed},
                            str(vote.id)))
    return found


def community_notices(ledger: FundLedger, audit: AuditProjection,
                      community_code: str) -> list[Notice]:
    notices: list[Notice] = []
    for listed in audit.votes(community_code, limit=_VOTES_SCANNED_MAX):
        notices += _vote_notices(ledger.vote(listed.community_code, listed.vote_reference))
    community = ledger.community(community_code)
    for posting in postings(ledger, community, None, None):
        if isinstance(posting, WorksWithdrawal):
            notices.append(Notice(posting.effective_date, "withdrawal", {
                "project": posting.project, "cost_kind": posting.cost_kind,
                "amount_fen": posting.invoice_fen}))
    order = {"result": 0, "opened": 1, "published": 2, "withdrawal": 3}
    notices.sort(key=lambda n: (n.on, -order[n.kind]), reverse=True)
    return notices[:NOTICES_MAX]
