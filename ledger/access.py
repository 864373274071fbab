"""Who may call the ledger over HTTP: API tokens, roles and hierarchical scopes.

A token is shown once, when it is made; the ledger keeps only its SHA-256 digest (a token
carries 256 random bits, so a fast digest cannot be brute-forced back). A token names one
role and one scope. Scopes nest: the city holds every district, a district its streets, a
street its communities; ``owner:<id>`` holds the units that owner id appears on, and
``owner:<id>/<community>`` those in one community only. The developer's unsold and
undelivered units carry one owner id in every community (``developer``): a developer's scope
names its community, and ``owner:developer`` alone holds nothing (one developer would
otherwise read and vote for every other's units).

A token's holder is a *principal*: a name, unique in the ledger, and an id (the id of its
first token). Rotation gives the holder a new token under the same name and id, so the
principal id, not the token, namespaces its idempotency keys and names it in the events it
writes; the name is for people, the id is what tells two holders apart.

A scope names exactly one place, by a code the register itself would accept
(``domain.identifiers``): ``community:CY-0001,CY-0003``, ``district:%`` or ``community:*``
are refused, not stored as a scope that silently holds nothing. A district code in digits is
a 6-digit GB/T 2260 code and a street code a 9-digit one, as in the register, so
``district:1101`` is refused too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import DomainError, InvalidInput
from domain.identifiers import CODE, check_identifier, check_place_code, normalise
from domain.owner_ids import check_owner_id
from domain.unit_account import DEVELOPER_OWNER_ID

TOKEN_PREFIX = "flt_"
# A name is recorded whole in the actor of the events its holder writes over HTTP
# (``http:<name>@<principal id>+req:<request id>``, at most 64 characters, see
# ``domain.checks.ACTOR_PATTERN``), hence the bound; '@' and '+' are left out so that the
# actor reads one way only.
TOKEN_NAME_CHARS_MAX = 24
TOKEN_NAME_PATTERN = re.compile(rf"[A-Za-z0-9_.:-]{{1,{TOKEN_NAME_CHARS_MAX}}}")


class Role(StrEnum):
    custodian = "custodian"  # posts money
    official = "official"  # governance and enterprise records
    auditor = "auditor"  # reads everything in scope, replays history
    owner = "owner"  # own units' statements and ballots
    subscriber = "subscriber"  # streams in scope
    monitor = "monitor"  # reads /metrics and nothing else (a scraper's token)
    admin = "admin"


SCOPE_LEVELS = ("city", "district", "street", "community", "owner")


@dataclass(frozen=True)
class Place:
    """Where something sits in the city's hierarchy (a community, or one of its units)."""

    district: str
    street: str
    community: str
    owner_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    level: str
    code: str = ""
    community: str = ""  # an owner scope kept to one community: ``owner:<id>/<community>``

    @classmethod
    def parse(cls, text: str) -> Scope:
        """The scope ``text`` names, its code normalised as every identifier is; or a refusal
        showing the expected form."""
        level, _, code = normalise(text).partition(":")
        slash = community = ""
        if level == "owner":
            code, slash, community = code.partition("/")  # '/' is in no owner id
        if level not in SCOPE_LEVELS or (level == "city") != (code == ""):
            raise _malformed(text, "")
        try:
            _check_scope_code(level, code)
            if slash:
                check_identifier(community, CODE, "scope")
        except DomainError as error:
            raise _malformed(text, f" ({error.message})") from None
        return cls(level, code, community)

    def __str__(self) -> str:
        if self.level == "city":
            return self.level
        return f"{self.level}:{self.code}" + (f"/{self.community}" if self.community else "")

    def reaches(self, community_code: str) -> bool:
        """Whether an owner scope acts in a community at all: in its own if it names one;
        anywhere the owner id holds a unit otherwise, save the developer's shared id."""
        if self.community:
            return community_code == self.community
        return self.code != DEVELOPER_OWNER_ID

    def holds(self, place: Place) -> bool:
        """Whether a community (or a unit, with its owner ids) lies within this scope."""
        match self.level:
            case "city":
                return True
            case "district":
                return place.district == self.code
            case "street":
                return place.street == self.code
            case "community":
                return place.community == self.code
            case _:
                return self.reaches(place.community) and self.code in place.owner_ids

    def filters(self) -> dict[str, str]:
        """The view filter that keeps a listing within this scope (owners list nothing)."""
        if self.level in ("district", "street", "community"):
            return {self.level: self.code}
        return {}


SCOPE_FORMS = ("city", "district:<code>", "street:<code>", "community:<code>", "owner:<id>",
               "owner:<id>/<community>")


def grantable(scope: Scope) -> Scope:
    """``scope``, if a new token or session may hold it: not the developer's id city-wide."""
    if scope.level == "owner" and scope.code == DEVELOPER_OWNER_ID and not scope.community:
        raise InvalidInput(
            f"scope {scope} would hold the developer's units in every community (they share "
            f"the owner id {DEVELOPER_OWNER_ID!r}); name the community: "
            f"owner:{DEVELOPER_OWNER_ID}/<community code>", rule="scope", field="scope")
    return scope


def _check_scope_code(level: str, code: str) -> None:
    match level:
        case "district" | "street":
            check_place_code(code, level, "scope")
        case "community":
            check_identifier(code, CODE, "scope")
        case "owner":
            check_owner_id(code, "scope")


def _malformed(text: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"scope {text!r} is malformed{why}; a scope is one of {', '.join(SCOPE_FORMS)}, "
        "naming one place, e.g. community:CY-0001 or district:110105",
        rule="scope", field="scope")


@dataclass(frozen=True)
class Principal:
    """A caller identified by a token: who, in which role, over which part of the city.

    ``principal_id`` is the holder's stable id: its first token's id, kept when the token
    is rotated (it defaults to ``token_id``, a holder's first token).
    """

    name: str
    role: Role
    scope: Scope
    token_id: str
    principal_id: str = ""

    def __post_init__(self) -> None:
        if not self.principal_id:
            object.__setattr__(self, "principal_id", self.token_id)


def check_token_name(name: str) -> None:
    """Refuse a name the actor could not record whole (see ``TOKEN_NAME_PATTERN``)."""
    if not TOKEN_NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"a token name has 1 to {TOKEN_NAME_CHARS_MAX} of A-Z a-z 0-9 _ . : -, not "
            f"{name!r}", rule="token-name", field="name")


def new_token() -> tuple[str, str]:
    """A fresh token and its public id (the id names it in logs and revocations)."""
    token_id = secrets.token_hex(6)
    return f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}", token_id


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
