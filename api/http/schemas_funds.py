"""What the fund's routes answer: postings, registrations, a fund's and a unit's balances."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from api.http.models import Written, yuan_of


class Registered(Written):
    communities_added: int
    units_added: int
    units_unchanged: int


class MoneyPosted(Written):
    """A deposit, withdrawal, income allocation, sale or refund: ``written`` names the
    posting's kind; ``already_posted`` when its reference was posted before."""

    reference: str
    already_posted: bool = False


class DepositBatchPosted(Written):
    posted: int
    already_posted_lines: int
    total_fen: int
    total_yuan: ClassVar[property] = yuan_of("total_fen")


class EmergencyDeclared(Written):
    reference: str


class Balances(BaseModel):
    """The money columns of the balance view, each also in yuan."""

    model_config = ConfigDict(from_attributes=True)
    deposits_fen: int
    withdrawals_fen: int
    income_fen: int
    refunds_fen: int
    balance_fen: int
    deposits_yuan: ClassVar[property] = yuan_of("deposits_fen")
    withdrawals_yuan: ClassVar[property] = yuan_of("withdrawals_fen")
    income_yuan: ClassVar[property] = yuan_of("income_fen")
    refunds_yuan: ClassVar[property] = yuan_of("refunds_fen")
    balance_yuan: ClassVar[property] = yuan_of("balance_fen")


class FundPublic(Balances):
    """A community's fund: its totals and how many units are below the re-raise line (F4)."""

    community_code: str
    name: str
    district: str
    street: str
    units: int
    reraise_demanded_units: int


class UnitAccountPublic(Balances):
    """A unit's sub-account, as the balance view holds it, with its owners."""

    community_code: str
    district: str
    street: str
    building: str
    unit: str
    unit_key: str
    area_m2_hundredths: int
    first_deposit_fen: int | None
    first_deposit_yuan: ClassVar[property] = yuan_of("first_deposit_fen", nullable=True)
    reraise_demanded: bool
    closed: bool
    owner_ids: list[str]
