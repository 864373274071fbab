"""A community (property-management area) in the city hierarchy, and its register of units.

The community holds what is rare and shared — its place in city → district → street, the
list of its units, declared emergencies, custody — and never a balance: balances live in
the units' own sub-accounts, so postings never contend on this aggregate.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput, NotFound, RuleViolated
from domain.identifiers import (
    CODE,
    REFERENCE,
    check_district_and_street,
    check_identifier,
    check_text,
)
from domain.ids import community_id

NAME_LENGTH_MAX = 200
DESCRIPTION_LENGTH_MAX = 1_000

# F9: the emergencies that may be repaired from the fund without an owners' vote.
EMERGENCY_CATEGORIES = (
    "roof_leak",
    "lift_danger",
    "high_rise_water_pump_failure",
    "facade_falling_risk",
    "drain_collapse_or_burst",
    "fire_system_failure_ordered",
)

CUSTODIANS = ("city_fund_office", "owners_meeting")
CUSTODY_TRANSFER_DAYS_MAX = 30  # F3: the balance moves within 30 days of the decision
OWNERS_COMMITTEE = "owners_committee"


class Community(Aggregate):
    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return community_id(code)

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        district: str,
        street: str,
        effective_date: date,
        actor: str,
    ) -> Community:
        check_identifier(code, CODE, "community_code")
        check_district_and_street(district, street)
        check_text(name, "community_name")
        if not name.strip() or len(name) > NAME_LENGTH_MAX:
            raise InvalidInput("community name must be 1–200 characters", rule="F1",
                               field="community_name")
        return cls(code=code, name=name, district=district, street=street,
                   effective_date=effective_date, actor=actor)

    # R1: owners who manage the community themselves (Civil Code art. 284) count as covered by
    # property service. The passed resolution that decided it, or None. A class default, so
    # snapshots taken before this existed restore as "not self-managed".
    self_management: str | None = None

    @event("Registered")
    def __init__(
        self, code: str, name: str, district: str, street: str, effective_date: date, actor: str
    ) -> None:
        self.code = code
        self.name = name
        self.district = district
        self.street = street
        # unit key -> [building, unit], so a charging range resolves without loading units
        self.units: dict[str, list[str]] = {}
        # references of the multi-unit postings (works, income) disclosed with the fund (F10)
        self.postings: list[list[str]] = []
        self.emergencies: dict[str, str] = {}
        self.custodian = "city_fund_office"
        # F3: a decided transfer waiting for the balance to move: [to, resolution, due by]
        self.custody_transfer: list[str] | None = None
        # E1: the most recent service contract; the application checks it before an entry.
        self.service_contract: str | None = None
        self.service_enterprise: str | None = None
        # C1/C3: the community's committees by kind, for the one-at-a-time checks and R1
        self.committees: dict[str, str] = {}

    def check_same_place(self, name: str, district: str, street: str) -> None:
        if (self.name, self.district, self.street) != (name, district, street):
            raise Conflict(
                f"community {self.code} is registered as {self.name!r} in "
                f"{self.district}/{self.street}, not {name!r} in {district}/{street}",
                rule="F1",
                field="community_code",
            )

    def add_units(
        self, *, units: list[tuple[str, str, str]], effective_date: date, actor: str
    ) -> None:
        """Record new units as (unit key, building, unit); units already known are skipped."""
        new = [[key, building, unit] for key, building, unit in units if key not in self.units]
        if new:
            self._units_added(units=new, effective_date=effective_date, actor=actor)

    @event("UnitsAdded")
    def _units_added(self, units: list[list[str]], effective_date: date, actor: str) -> None:
        for key, building, unit in units:
            self.units[key] = [building, unit]

    def resolve_range(self, *, buildings: list[str], unit_keys: list[str]) -> list[str]:
        """F8: the charging range as sorted unit keys, from buildings and/or explicit units."""
        if not buildings and not unit_keys:
            raise InvalidInput("a charging range names buildings or units",
                               rule="F8", field="charging_range")
        chosen = set(unit_keys)
        for key in unit_keys:
            if key not in self.units:
                raise NotFound(f"community {self.code} has no unit {key}",
                               rule="F1", field="charging_range")
        for building in buildings:
            in_building = [k for k, (b, _) in self.units.items() if b == building]
            if not in_building:
                raise NotFound(f"community {self.code} has no building {building}",
                               rule="F1", field="charging_range")
            chosen.update(in_building)
        return sorted(chosen)

    def record_posting(
        self, *, reference: str, kind: str, effective_date: date, actor: str
    ) -> None:
        self._posting_recorded(reference=reference, kind=kind, effective_date=effective_date,
                               actor=actor)

    @event("PostingRecorded")
    def _posting_recorded(
        self, reference: str, kind: str, effective_date: date, actor: str
    ) -> None:
        self.postings.append([kind, reference])

    def record_service_contract(
        self, *, contract_reference: str, enterprise_code: str, effective_date: date, actor: str
    ) -> None:
        """E1: point at the community's newest contract; saved with the contract itself."""
        self._service_contract_recorded(
            contract_reference=contract_reference, enterprise_code=enterprise_code,
            effective_date=effective_date, actor=actor)

    @event("ServiceContractRecorded")
    def _service_contract_recorded(
        self, contract_reference: str, enterprise_code: str, effective_date: date, actor: str
    ) -> None:
        self.service_contract = contract_reference
        self.service_enterprise = enterprise_code

    def record_self_management(
        self, *, resolution_id: str, effective_date: date, actor: str
    ) -> None:
        """R1: the owners manage the community themselves, by a passed resolution. The
        application checks first that no enterprise serves (E1)."""
        check_identifier(resolution_id, REFERENCE, "resolution_id")
        if self.self_management is not None:
            raise Conflict(f"community {self.code} already manages itself (resolution "
                           f"{self.self_management})", rule="R1", field="resolution_id")
        self._self_management_recorded(resolution_id=resolution_id,
                                       effective_date=effective_date, actor=actor)

    @event("SelfManagementRecorded")
    def _self_management_recorded(
        self, resolution_id: str, effective_date: date, actor: str
    ) -> None:
        self.self_management = resolution_id

    def end_self_management(self, *, reason: str, effective_date: date, actor: str) -> None:
        """Self-management ends (an enterprise enters, or the owners decide so)."""
        check_text(reason, "reason")
        if self.self_management is None:
            raise RuleViolated(f"community {self.code} does not manage itself", rule="R1",
                               field="community_code")
        self._self_management_ended(reason=reason, effective_date=effective_date, actor=actor)

    @event("SelfManagementEnded")
    def _self_management_ended(self, reason: str, effective_date: date, actor: str) -> None:
        self.self_management = None

    def record_committee(
        self, *, kind: str, committee_reference: str | None, effective_date: date, actor: str
    ) -> None:
        """Point at the community's current committee of a kind (None once dissolved)."""
        self._committee_recorded(kind=kind, committee_reference=committee_reference,
                                 effective_date=effective_date, actor=actor)

    @event("CommitteeRecorded")
    def _committee_recorded(
        self, kind: str, committee_reference: str | None, effective_date: date, actor: str
    ) -> None:
        if committee_reference is None:
            self.committees.pop(kind, None)
        else:
            self.committees[kind] = committee_reference

    def decide_custody_transfer(
        self, *, to_custodian: str, resolution_id: str, effective_date: date, actor: str
    ) -> None:
        """F3: once an owners' committee exists, the owners' meeting may take custody."""
        check_identifier(resolution_id, REFERENCE, "resolution_id")
        if to_custodian not in CUSTODIANS:
            raise InvalidInput(f"custodian {to_custodian!r} is not one of "
                               f"{', '.join(CUSTODIANS)}", rule="F3", field="to_custodian")
        if to_custodian == self.custodian or self.custody_transfer is not None:
            raise Conflict(f"community {self.code} is held by {self.custodian}"
                           + (" with a transfer pending" if self.custody_transfer else ""),
                           rule="F3", field="to_custodian")
        if to_custodian == "owners_meeting" and OWNERS_COMMITTEE not in self.committees:
            raise RuleViolated(f"community {self.code} has no owners' committee; the city's "
                               "fund office keeps custody until one exists", rule="F3",
                               field="to_custodian")
        due_by = effective_date + timedelta(days=CUSTODY_TRANSFER_DAYS_MAX)
        self._custody_transfer_decided(to_custodian=to_custodian, resolution_id=resolution_id,
                                       due_by=due_by, effective_date=effective_date,
                                       actor=actor)

    @event("CustodyTransferDecided")
    def _custody_transfer_decided(
        self, to_custodian: str, resolution_id: str, due_by: date, effective_date: date,
        actor: str,
    ) -> None:
        self.custody_transfer = [to_custodian, resolution_id, due_by.isoformat()]

    def complete_custody_transfer(
        self, *, balance_fen: int, effective_date: date, actor: str
    ) -> None:
        """F3: the balance has moved; a move after the 30 days is recorded as late."""
        if self.custody_transfer is None:
            raise RuleViolated(f"community {self.code} has no custody transfer pending",
                               rule="F3", field="community_code")
        to_custodian, resolution_id, due_by = self.custody_transfer
        self._custody_transferred(
            from_custodian=self.custodian, to_custodian=to_custodian,
            resolution_id=resolution_id, balance_fen=balance_fen,
            late=effective_date > date.fromisoformat(due_by), effective_date=effective_date,
            actor=actor)

    @event("CustodyTransferred")
    def _custody_transferred(
        self, from_custodian: str, to_custodian: str, resolution_id: str, balance_fen: int,
        late: bool, effective_date: date, actor: str,
    ) -> None:
        self.custodian = to_custodian
        self.custody_transfer = None

    def declare_emergency(
        self, *, emergency_id: str, category: str, description: str, effective_date: date,
        actor: str,
    ) -> None:
        check_identifier(emergency_id, REFERENCE, "emergency_id")
        check_text(description, "description")
        if len(description) > DESCRIPTION_LENGTH_MAX:
            raise InvalidInput(f"description is longer than {DESCRIPTION_LENGTH_MAX} characters",
                               rule="F9", field="description")
        if category not in EMERGENCY_CATEGORIES:
            raise RuleViolated(
                f"{category!r} is not an emergency under F9; one of: "
                + ", ".join(EMERGENCY_CATEGORIES),
                rule="F9",
                field="category",
            )
        known = self.emergencies.get(emergency_id)
        if known is not None:
            if known != category:
                raise Conflict(f"emergency {emergency_id} was declared as {known}",
                               rule="F9", field="emergency_id")
            return
        self._emergency_declared(emergency_id=emergency_id, category=category,
                                 description=description, effective_date=effective_date,
                                 actor=actor)

    @event("EmergencyDeclared")
    def _emergency_declared(
        self, emergency_id: str, category: str, description: str, effective_date: date,
        actor: str,
    ) -> None:
        self.emergencies[emergency_id] = category

    def emergency_category(self, emergency_id: str) -> str:
        try:
            return self.emergencies[emergency_id]
        except KeyError:
            raise NotFound(
                f"community {self.code} has no declared emergency {emergency_id!r}",
                rule="F9",
                field="emergency_id",
            ) from None
