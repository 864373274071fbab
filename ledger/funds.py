"""The maintenance fund's commands (F1–F11): registration, deposits, income, works, sales."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, cast

from eventsourcing.application import AggregateNotFoundError

from domain.community import Community
from domain.errors import (
    BatchRejected,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    RuleViolated,
)
from domain.identifiers import REFERENCE, check_identifier, check_text
from domain.ids import community_id, posting_id, unit_account_id, unit_key
from domain.posting import (
    INCOME_SOURCES,
    IncomeAllocation,
    WorksWithdrawal,
    check_cost_kind,
    income_split,
    works_split,
)
from domain.unit_account import UnitAccount, check_amount
from ledger.base import BatchResult, LedgerBase, Posted, RegistrationResult, _Work, gc_paused
from ledger.commands import DEPOSIT_KINDS, DepositLine, UnitRow, WithdrawalRequest, content_digest
from ledger.loading import load_many
from ledger.persistence.references import PostingReference
from ledger.resolutions import Resolutions
from ledger.write_context import WriteContext

Progress = Callable[[int], None]
DEPOSIT_REFERENCE_KINDS = {kind: f"deposit:{kind}" for kind in DEPOSIT_KINDS}
BATCH_LINES_MAX = 1_000_000  # a bank file longer than this is split by the bank, not by us


class FundCommands(LedgerBase):
    # The owners' votes a withdrawal cites (F8); wired in by ``FundLedger``.
    resolutions: Resolutions

    # -- registration (F1) ---------------------------------------------------------------

    def register_units(
        self, rows: Sequence[UnitRow], *, effective_date: date, actor: str,
        write: WriteContext | None = None,
    ) -> RegistrationResult:
        with gc_paused():
            return self._retrying(
                lambda: self._register_units(rows, effective_date, actor, write), write)

    def _register_units(
        self, rows: Sequence[UnitRow], effective_date: date, actor: str,
        write: WriteContext | None,
    ) -> RegistrationResult:
        seen: dict[tuple[str, str, str], int] = {}
        for row in rows:
            key = (row.community_code, row.building, row.unit)
            if key in seen:
                raise BatchRejected(row.line, InvalidInput(
                    f"unit {unit_key(row.building, row.unit)} of {row.community_code} is "
                    f"listed twice (first on line {seen[key]})", rule="F1", field="unit"))
            seen[key] = row.line
        communities = self._communities_for(rows, effective_date, actor)
        existing = load_many(self, [unit_account_id(*k) for k in seen])
        work = _Work()
        added = unchanged = 0
        new_units: dict[str, list[tuple[str, str, str]]] = {}
        for row in rows:
            account = existing.get(unit_account_id(row.community_code, row.building, row.unit))
            try:
                if account is not None:
                    if not account.same_registration(
                        row.area_m2_hundredths, row.area_source, row.owner_ids
                    ):
                        raise Conflict(
                            f"unit {account.key} of {row.community_code} is registered with "
                            "other area, area source or owners; a correction is its own command",
                            rule="F1", field="unit")
                    unchanged += 1
                    continue
                work.aggregates.append(UnitAccount.register(
                    community_code=row.community_code, building=row.building, unit=row.unit,
                    area_m2_hundredths=row.area_m2_hundredths, area_source=row.area_source,
                    owner_ids=row.owner_ids, effective_date=effective_date, actor=actor))
            except DomainError as error:
                raise BatchRejected(row.line, error) from None
            new_units.setdefault(row.community_code, []).append(
                (unit_key(row.building, row.unit), row.building, row.unit))
            added += 1
        created = sum(1 for c in communities.values()
                      if c.pending_events and c.pending_events[0].originator_version == 1)
        for code, units in new_units.items():
            communities[code].add_units(units=units, effective_date=effective_date, actor=actor)
        work.aggregates.extend(communities.values())
        self._save(work, write)
        return RegistrationResult(created, added, unchanged)

    def _communities_for(
        self, rows: Sequence[UnitRow], effective_date: date, actor: str
    ) -> dict[str, Community]:
        communities: dict[str, Community] = {}
        for row in rows:
            community = communities.get(row.community_code)
            try:
                if community is None:
                    try:
                        community = cast(Community,
                                         self._get(community_id(row.community_code)))
                    except AggregateNotFoundError:
                        community = Community.register(
                            code=row.community_code, name=row.community_name,
                            district=row.district, street=row.street,
                            effective_date=effective_date, actor=actor)
                    communities[row.community_code] = community
                community.check_same_place(row.community_name, row.district, row.street)
            except DomainError as error:
                raise BatchRejected(row.line, error) from None
        return communities

    # -- deposits (F2, F4) ---------------------------------------------------------------

    def post_deposit(
        self, line: DepositLine, *, actor: str, write: WriteContext | None = None
    ) -> Posted:
        """One deposit; a repeat of its bank reference reports the original posting."""
        posted: list[Posted] = []
        # A key known as recorded makes a repeat likely: look the reference up first.
        looked_up = write is not None and write.key_recorded

        def attempt() -> BatchResult:
            # Optimistic: a fresh reference is the common case, and its primary key refuses
            # a repeat anyway, so the first try skips the look-up (a round trip in four).
            # A refusal or a lost race decides again with the reference looked up, so a
            # repeat still reports the original posting rather than a rule it now breaks.
            nonlocal looked_up
            if not looked_up:
                looked_up = True
                try:
                    return self._post_deposits([line], actor, None, posted, write,
                                               look_up=False)
                except BatchRejected:
                    pass
            return self._post_deposits([line], actor, None, posted, write)

        try:
            self._retrying(attempt, write)
        except BatchRejected as rejected:
            raise rejected.error from None  # one posting has no batch or line to name
        return posted[0]

    def import_deposits(
        self, lines: Sequence[DepositLine], *, actor: str, progress: Progress | None = None,
        write: WriteContext | None = None,
    ) -> BatchResult:
        """A bank batch: every line posts, or none does (one transaction)."""
        if len(lines) > BATCH_LINES_MAX:
            raise InvalidInput(f"a batch has at most {BATCH_LINES_MAX} lines",
                               rule="batch-size", field="lines")
        with gc_paused():
            return self._retrying(
                lambda: self._post_deposits(lines, actor, progress, None, write), write)

    def _post_deposits(
        self,
        lines: Sequence[DepositLine],
        actor: str,
        progress: Progress | None,
        posted: list[Posted] | None,
        write: WriteContext | None,
        *,
        look_up: bool = True,
    ) -> BatchResult:
        """Post the fresh lines in one save; ``posted`` (single postings) collects reports.

        ``look_up=False`` treats every reference as fresh: its save then fails on the
        reference's primary key if it was not, and the caller decides again.
        """
        if posted is not None:
            posted.clear()
        first_line: dict[str, int] = {}
        for line in lines:
            if line.kind not in DEPOSIT_KINDS:
                raise BatchRejected(line.line, InvalidInput(
                    f"kind {line.kind!r} is not one of {', '.join(DEPOSIT_KINDS)}",
                    rule="deposit-kind", field="kind"))
            if line.reference in first_line:
                raise BatchRejected(line.line, InvalidInput(
                    f"reference {line.reference!r} repeats line {first_line[line.reference]}",
                    rule="reference-unique", field="reference"))
            first_line[line.reference] = line.line
        known = self._references(first_line) if look_up else {}
        # One slot per sub-account: [its id, then the loaded account], so the loop below
        # reaches both without hashing a UUID (Python code) per line.
        fresh: list[tuple[DepositLine, list[Any], str]] = []
        slots: dict[tuple[str, str, str], list[Any]] = {}
        for line in lines:
            digest = line.digest()
            found = known.get(line.reference) if known else None
            if found is not None:
                try:
                    repeat = self._check_reference(line.reference, digest, found)
                except DomainError as error:
                    raise BatchRejected(line.line, error) from None
                if posted is not None and repeat is not None:
                    posted.append(repeat)
                continue
            unit = (line.community_code, line.building, line.unit)
            slot = slots.get(unit)
            if slot is None:
                slot = slots[unit] = [unit_account_id(*unit), None]
            fresh.append((line, slot, digest))
        accounts = load_many(self, [slot[0] for slot in slots.values()])
        for slot in slots.values():
            slot[1] = accounts.get(slot[0])
        work = _Work(aggregates=list(accounts.values()))
        references = work.references
        total_fen = 0
        for index, (line, (account_id, account), digest) in enumerate(fresh, start=1):
            try:
                version = self._apply_deposit(account, line, actor)
            except DomainError as error:
                raise BatchRejected(line.line, error) from None
            kind = DEPOSIT_REFERENCE_KINDS[line.kind]
            references.append(PostingReference(line.reference, kind, digest, account_id, version))
            if posted is not None:
                posted.append(Posted(line.reference, kind, False, account_id, version))
            total_fen += line.amount_fen
            if progress is not None and index % 1000 == 0:
                progress(1000)
        last = self._save(work, write) if fresh else None
        if progress is not None:
            progress(len(fresh) % 1000 + len(lines) - len(fresh))
        return BatchResult(len(fresh), len(lines) - len(fresh), total_fen, last)

    def _apply_deposit(self, account: UnitAccount | None, line: DepositLine, actor: str) -> int:
        """Apply one deposit to its sub-account; returns the version of the deposit event."""
        if account is None:
            raise NotFound(
                f"community {line.community_code!r} has no registered unit "
                f"{unit_key(line.building, line.unit)}", rule="F1", field="unit")
        version = account.version + 1
        if line.kind == "first":
            account.pay_first_deposit(
                amount_fen=line.amount_fen, rate_fen_per_m2=self.settings.deposit_rate_fen_per_m2,
                effective_date=line.paid_on, reference=line.reference, actor=actor)
        else:
            account.top_up(
                amount_fen=line.amount_fen, effective_date=line.paid_on,
                reference=line.reference, actor=actor,
                reraise_threshold_percent=self.settings.reraise_threshold_percent)
        return version

    # -- income (F5) ---------------------------------------------------------------------

    def allocate_income(
        self, *, community_code: str, amount_fen: int, source: str, received_on: date,
        reference: str, actor: str, write: WriteContext | None = None,
    ) -> Posted:
        check_amount(amount_fen)
        check_identifier(reference, REFERENCE, "reference")
        if source not in INCOME_SOURCES:
            raise InvalidInput(f"income source {source!r} is not one of "
                               f"{', '.join(INCOME_SOURCES)}", rule="F5", field="source")
        digest = content_digest("income", community_code, str(amount_fen), source,
                                received_on.isoformat())

        def attempt() -> Posted:
            repeat = self._check_reference(reference, digest,
                                           self._references([reference]).get(reference))
            if repeat is not None:
                return repeat
            community = self._community(community_code)
            accounts = [a for a in self._accounts(community, sorted(community.units))
                        if not a.closed]
            shares = income_split(amount_fen, [(a.key, a.balance_fen) for a in accounts])
            for account, (_, _, share) in zip(accounts, shares, strict=True):
                account.credit_income(
                    amount_fen=share, effective_date=received_on, reference=reference,
                    actor=actor, reraise_threshold_percent=self.settings.reraise_threshold_percent)
            allocation = IncomeAllocation(
                reference=reference, community_code=community_code, source=source,
                policy="by_balance", amount_fen=amount_fen, shares=shares,
                effective_date=received_on, actor=actor)
            community.record_posting(reference=reference, kind="income",
                                     effective_date=received_on, actor=actor)
            self._save(_Work([allocation, community, *accounts], [PostingReference(
                reference, "income", digest, allocation.id, 1)]), write)
            return Posted(reference, "income", False, allocation.id, 1)

        return self._retrying(attempt, write)

    # -- works withdrawals (F8, F9) ------------------------------------------------------

    def declare_emergency(
        self, *, community_code: str, emergency_id: str, category: str, description: str,
        declared_on: date, actor: str, write: WriteContext | None = None,
    ) -> None:
        self._update(lambda: self._community(community_code), lambda c: c.declare_emergency(
            emergency_id=emergency_id, category=category, description=description,
            effective_date=declared_on, actor=actor), write)

    def withdraw(
        self, request: WithdrawalRequest, *, actor: str, write: WriteContext | None = None
    ) -> Posted:
        """Pay a works invoice from the units of its charging range, split by floor area."""
        check_cost_kind(request.cost_kind)
        check_identifier(request.reference, REFERENCE, "reference")
        check_text(request.project, "project")
        check_amount(request.invoice_fen, field="invoice_yuan")
        if (request.emergency_id is None) == (request.resolution_id is None):
            raise InvalidInput("a withdrawal cites exactly one of an emergency or a resolution",
                               rule="F8", field="basis")
        return self._retrying(lambda: self._withdraw(request, actor, write), write)

    def _withdraw(
        self, request: WithdrawalRequest, actor: str, write: WriteContext | None
    ) -> Posted:
        digest = request.digest()
        repeat = self._check_reference(request.reference, digest,
                                       self._references([request.reference]).get(
                                           request.reference))
        if repeat is not None:
            return repeat
        community = self._community(request.community_code)
        keys = community.resolve_range(buildings=request.buildings, unit_keys=request.unit_keys)
        category: str | None = None
        approvals: list[Any] = []
        if request.emergency_id is not None:
            category = community.emergency_category(request.emergency_id)
        else:
            assert request.resolution_id is not None
            approvals = self.resolutions.approve_withdrawal(
                community, request.resolution_id, keys, request.invoice_fen, request.paid_on,
                request.reference, actor)
        # A destroyed unit's sub-account is closed and refunded: it no longer shares costs.
        accounts = [a for a in self._accounts(community, keys) if not a.closed]
        if not accounts:
            raise RuleViolated("every unit of the charging range is closed", rule="F8",
                               field="charging_range")
        shares = works_split(request.invoice_fen, [(a.key, a.area_m2_hundredths)
                                                   for a in accounts])
        for account, (_, _, share) in zip(accounts, shares, strict=True):
            account.check_can_pay(share)
        for account, (_, _, share) in zip(accounts, shares, strict=True):
            account.charge_works_share(
                amount_fen=share, effective_date=request.paid_on, reference=request.reference,
                actor=actor, reraise_threshold_percent=self.settings.reraise_threshold_percent)
        withdrawal = WorksWithdrawal(
            reference=request.reference, community_code=request.community_code,
            project=request.project, cost_kind=request.cost_kind,
            basis="emergency" if request.emergency_id else "resolution",
            emergency_id=request.emergency_id, emergency_category=category,
            resolution_id=request.resolution_id, invoice_fen=request.invoice_fen, shares=shares,
            disclosure_pending=request.emergency_id is not None, effective_date=request.paid_on,
            actor=actor)
        community.record_posting(reference=request.reference, kind="works",
                                 effective_date=request.paid_on, actor=actor)
        self._save(_Work([withdrawal, community, *approvals, *accounts], [PostingReference(
            request.reference, "works", digest, withdrawal.id, 1)]), write)
        return Posted(request.reference, "works", False, withdrawal.id, 1)

    # -- sale, destruction, delivery (F2, F7) --------------------------------------------

    def sell_unit(
        self, *, community_code: str, building: str, unit: str, buyer_owner_ids: list[str],
        sold_on: date, reference: str, actor: str, write: WriteContext | None = None,
    ) -> Posted:
        digest = content_digest("sale", community_code, building, unit,
                                ",".join(buyer_owner_ids), sold_on.isoformat())
        return self._unit_command(
            community_code, building, unit, reference, "sale", digest,
            lambda a: a.sell(buyer_owner_ids=buyer_owner_ids, effective_date=sold_on,
                             reference=reference, actor=actor), write)

    def refund_destroyed_unit(
        self, *, community_code: str, building: str, unit: str, destroyed_on: date,
        reference: str, actor: str, write: WriteContext | None = None,
    ) -> Posted:
        digest = content_digest("refund", community_code, building, unit,
                                destroyed_on.isoformat())
        return self._unit_command(
            community_code, building, unit, reference, "refund", digest,
            lambda a: a.refund_on_destruction(effective_date=destroyed_on, reference=reference,
                                              actor=actor), write)

    def mark_delivered(
        self, *, community_code: str, building: str, unit: str, delivered_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> None:
        self._update(lambda: self.unit_account(community_code, building, unit),
                     lambda a: a.mark_delivered(effective_date=delivered_on, actor=actor), write)

    def deliver_units(
        self, *, community_code: str, delivered_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> int:
        """Mark delivered every unit whose first deposit is paid (F2); returns how many."""

        def attempt() -> int:
            community = self._community(community_code)
            accounts = [a for a in self._accounts(community, sorted(community.units))
                        if not a.delivered and not a.closed and a.first_deposit_fen is not None]
            for account in accounts:
                account.mark_delivered(effective_date=delivered_on, actor=actor)
            self._save(_Work(list(accounts)), write)
            return len(accounts)

        return self._retrying(attempt, write)

    def _unit_command(
        self, community_code: str, building: str, unit: str, reference: str, kind: str,
        digest: str, command: Callable[[UnitAccount], None], write: WriteContext | None,
    ) -> Posted:
        def attempt() -> Posted:
            repeat = self._check_reference(reference, digest,
                                           self._references([reference]).get(reference))
            if repeat is not None:
                return repeat
            account = self.unit_account(community_code, building, unit)
            version = account.version + 1
            command(account)
            self._save(_Work([account], [PostingReference(reference, kind, digest,
                                                          account.id, version)]), write)
            return Posted(reference, kind, False, account.id, version)

        return self._retrying(attempt, write)

    # -- reads of the write model --------------------------------------------------------

    def community(self, code: str) -> Community:
        return self._community(code)

    def unit_account(self, community_code: str, building: str, unit: str) -> UnitAccount:
        try:
            return cast(UnitAccount, self._get(
                unit_account_id(community_code, building, unit)))
        except AggregateNotFoundError:
            raise NotFound(
                f"community {community_code!r} has no registered unit "
                f"{unit_key(building, unit)}", rule="F1", field="unit") from None

    def posting(self, reference: str) -> WorksWithdrawal | IncomeAllocation:
        try:
            return cast(WorksWithdrawal | IncomeAllocation,
                        self._get(posting_id(reference)))
        except AggregateNotFoundError:
            raise NotFound(f"no posting {reference!r}", rule="F10",
                           field="reference") from None

