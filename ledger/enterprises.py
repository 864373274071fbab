"""Property service enterprises (E1–E3): registry, entry, exit with handover, credit record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic

from domain.community import Community
from domain.credit import CreditScheme, Graded, Period, Score, rank_and_grade, score_enterprise
from domain.credit_code import validate_credit_code
from domain.enterprise import Enterprise
from domain.errors import Conflict, NotFound
from domain.ids import contract_id, enterprise_id, unit_account_id
from domain.service_contract import ServiceContract, ensure_community_free
from ledger.base import LedgerBase
from ledger.loading import first_events, load_many
from ledger.resolutions import Resolutions
from ledger.write_context import WriteContext

REGISTRY_PAGE = 1_000


class EnterpriseCommands(LedgerBase):
    credit_scheme: CreditScheme
    # The owners' votes a hiring (E1) or self-management (R1) cites; wired in by ``FundLedger``.
    resolutions: Resolutions

    # -- registry ------------------------------------------------------------------------

    def register_enterprise(
        self, *, credit_code: str, name: str, registered_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> Enterprise:
        """Register once; a repeat with the same name is a no-op, another name a conflict."""
        code = validate_credit_code(credit_code)

        def attempt() -> Enterprise:
            try:
                known = self.enterprise(code)
            except NotFound:
                enterprise = Enterprise.register(code, name, on=registered_on, actor=actor)
                self._save_aggregates(enterprise, write=write)
                return enterprise
            if known.name != name.strip():
                raise Conflict(f"enterprise {code} is registered as {known.name!r}",
                               rule="E1", field="name")
            return known

        return self._retrying(attempt, write)

    def enterprise(self, credit_code: str) -> Enterprise:
        try:
            return cast(Enterprise, self._get(enterprise_id(credit_code)))
        except AggregateNotFoundError:
            raise NotFound(f"no enterprise with credit code {credit_code!r} is registered",
                           rule="E1", field="enterprise_code") from None

    def enterprises(self) -> list[Enterprise]:
        """Every registered enterprise, in registration order (read from the log by topic)."""
        ids = list(self._registered_ids(get_topic(cast(Any, Enterprise).Registered)))
        loaded = load_many(self, ids)
        return [cast(Enterprise, loaded[i]) for i in ids]

    def _registered_ids(self, topic: str) -> Iterator[UUID]:
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=REGISTRY_PAGE, topics=[topic], inclusive_of_start=False)
            for notification in page:
                yield cast(UUID, notification.originator_id)
            if len(page) < REGISTRY_PAGE:
                return
            start = page[-1].id

    # -- entry and exit (E1, E2) ---------------------------------------------------------

    def contract(self, community_code: str, contract_reference: str) -> ServiceContract:
        try:
            return cast(ServiceContract, self._get(
                contract_id(community_code, contract_reference)))
        except AggregateNotFoundError:
            raise NotFound(f"community {community_code} has no contract {contract_reference!r}",
                           rule="E1", field="contract_reference") from None

    def start_service_contract(
        self, *, community_code: str, enterprise_code: str, contract_reference: str,
        starts_on: date, filed_on: date, open_ended: bool, ends_on: date | None,
        actor: str, emergency_standin: bool = False, resolution_id: str | None = None,
        write: WriteContext | None = None,
    ) -> ServiceContract:
        """E1: an enterprise enters a community that no other enterprise serves."""

        def attempt() -> ServiceContract:
            community = self._community(community_code)
            enterprise = self.enterprise(enterprise_code)
            try:
                existing = self.contract(community_code, contract_reference)
            except NotFound:
                pass
            else:  # a retry reports the contract; other terms under its reference conflict
                if (existing.enterprise_code, existing.starts_on, existing.filed_on,
                        existing.open_ended, existing.ends_on, existing.emergency_standin,
                        existing.resolution_id) != (
                        enterprise.credit_code, starts_on, filed_on, open_ended, ends_on,
                        emergency_standin, resolution_id and resolution_id.strip()):
                    raise Conflict(
                        f"contract {contract_reference} of {community_code} is recorded with "
                        f"{existing.enterprise_code} from {existing.starts_on} on other terms",
                        rule="E1", field="contract_reference")
                return existing
            previous = (self.contract(community_code, community.service_contract)
                        if community.service_contract else None)
            ensure_community_free(community_code, previous, starts_on)
            approvals = (self.resolutions.approve_hiring(community, resolution_id)
                         if resolution_id else [])
            contract = ServiceContract.start(
                community_code, enterprise.credit_code, starts_on, filed_on, open_ended, ends_on,
                self._community_area(community), contract_reference=contract_reference,
                actor=actor, emergency_standin=emergency_standin, resolution_id=resolution_id)
            community.record_service_contract(
                contract_reference=contract_reference, enterprise_code=enterprise.credit_code,
                effective_date=starts_on, actor=actor)
            if community.self_management is not None:  # R1: an enterprise now serves
                community.end_self_management(reason=f"contract {contract_reference}",
                                              effective_date=starts_on, actor=actor)
            enterprise.record_engagement(contract, actor=actor)
            self._save_aggregates(community, contract, enterprise, *approvals, write=write)
            return contract

        return self._retrying(attempt, write)

    def record_self_management(
        self, *, community_code: str, resolution_id: str, started_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> None:
        """R1: the owners manage the community themselves (counted as property-service
        coverage), by a passed resolution of the community, while no enterprise serves it
        (E1). An enterprise entering later ends it in the same save."""

        def attempt() -> None:
            community = self._community(community_code)
            self.resolutions.check_self_management(community, resolution_id)
            previous = (self.contract(community_code, community.service_contract)
                        if community.service_contract else None)
            ensure_community_free(community_code, previous, started_on)
            community.record_self_management(resolution_id=resolution_id,
                                             effective_date=started_on, actor=actor)
            self._save_aggregates(community, write=write)

        self._retrying(attempt, write)

    def _community_area(self, community: Community) -> int:
        """The served area: the sum of the community's exclusive areas (for E3 weighting).

        A unit's area is fixed by its registration, so only the units' first events are read:
        the cost stays one row a unit however many postings the units have had."""
        ids = [unit_account_id(community.code, *community.units[k]) for k in community.units]
        return sum(registered.area_m2_hundredths
                   for registered in first_events(self, ids).values())

    def give_contract_notice(
        self, *, community_code: str, contract_reference: str, given_on: date, reason: str,
        actor: str, resolution_id: str | None = None, write: WriteContext | None = None,
    ) -> None:
        self._contract_step(community_code, contract_reference, lambda c: c.give_notice(
            given_on, reason, actor=actor, resolution_id=resolution_id), write)

    def terminate_contract(
        self, *, community_code: str, contract_reference: str, terminated_on: date, actor: str,
        write: WriteContext | None = None,
    ) -> None:
        self._contract_step(community_code, contract_reference,
                            lambda c: c.terminate(terminated_on, actor=actor), write)

    def check_off_handover(
        self, *, community_code: str, contract_reference: str, item: str, handed_over_on: date,
        actor: str, write: WriteContext | None = None,
    ) -> None:
        self._contract_step(community_code, contract_reference,
                            lambda c: c.check_off_handover(item, handed_over_on, actor=actor),
                            write)

    def _contract_step(self, community_code: str, contract_reference: str,
                       step: Callable[[ServiceContract], None],
                       write: WriteContext | None) -> None:
        self._update(lambda: self.contract(community_code, contract_reference), step, write)

    def check_overdue_handovers(
        self, *, as_of: date, actor: str, write: WriteContext | None = None
    ) -> list[str]:
        """E2: record one violation per handover still open after its deadline.

        Safe to run as often as wanted: a handover already recorded is not recorded again.
        """
        recorded: list[str] = []
        for enterprise in self.enterprises():
            contracts = load_many(self, [UUID(i) for i in enterprise.engaged_contract_ids])
            for contract in contracts.values():
                if enterprise.record_overdue_handover(contract, as_of, actor=actor):
                    recorded.append(f"{enterprise.credit_code}: {contract.community_code}/"
                                    f"{contract.contract_reference}")
            if enterprise.pending_events:
                self._save_aggregates(enterprise, write=write)
        return recorded

    # -- credit record (E3) --------------------------------------------------------------

    def record_credit_event(
        self, enterprise_code: str, command: Any, *, write: WriteContext | None = None
    ) -> None:
        """Apply one credit-record command (commend, violation, fine, ticket) and save it."""

        self._update(lambda: self.enterprise(enterprise_code), command, write)

    def credit_score(self, enterprise_code: str, period: Period) -> Score:
        enterprise = self.enterprise(enterprise_code)
        return self._score(enterprise, period)

    def _score(self, enterprise: Enterprise, period: Period) -> Score:
        contracts = load_many(self, [UUID(i) for i in enterprise.engaged_contract_ids])
        projects = [c.served_project() for c in contracts.values()]
        return score_enterprise(enterprise.credit_events(), projects, period,
                                self.credit_scheme, enterprise_code=enterprise.credit_code)

    def credit_ranking(self, period: Period) -> list[Graded]:
        """Every enterprise that served in the period, ranked and graded by the scheme."""
        scores = []
        for enterprise in self.enterprises():
            contracts = load_many(self, [UUID(i) for i in enterprise.engaged_contract_ids])
            if any(c.served_project().served_in(period) for c in contracts.values()):
                scores.append(self._score(enterprise, period))
        return rank_and_grade(scores, self.credit_scheme)
