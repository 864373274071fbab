"""Domain events as CloudEvents 1.0 JSON, each placed in its community and the city.

One shape for every subscriber: the NATS relay publishes it, the HTTP streams send it. The
``id`` is the event's log position, so a subscriber resumes after the last id it holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from domain.ids import community_id
from ledger.application import FundLedger
from ledger.loading import load_many
from ledger.persistence.transcoder import event_decoder

NO_COMMUNITY = "_"  # enterprises belong to no one community


@dataclass(frozen=True)
class Placed:
    """Where an event happened: its community and that community's street and district."""

    community: str
    street: str = ""
    district: str = ""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialise a {type(value).__name__}")


class Places:
    """Which community (street, district) each stream belongs to, learnt once per stream."""

    def __init__(self, app: FundLedger) -> None:
        self.app = app
        self._streams: dict[UUID, str] = {}
        self._communities: dict[str, Placed] = {}

    def learn(self, page: Sequence[Notification]) -> None:
        unknown = list({UUID(str(n.originator_id)) for n in page} - set(self._streams))
        for originator_id, aggregate in load_many(self.app, unknown).items():
            code = getattr(aggregate, "community_code", None) or getattr(aggregate, "code", None)
            # An enterprise has a credit code, not a community: it is city-wide.
            if code and getattr(aggregate, "credit_code", None) is None:
                self._streams[originator_id] = str(code)
            else:
                self._streams[originator_id] = NO_COMMUNITY
        codes = set(self._streams.values()) - set(self._communities) - {NO_COMMUNITY}
        ids = {community_id(code): code for code in codes}
        for found_id, community in load_many(self.app, list(ids)).items():
            self._communities[ids[found_id]] = Placed(
                ids[found_id], getattr(community, "street", ""),
                getattr(community, "district", ""))

    def place(self, notification: Notification) -> Placed:
        code = self._streams.get(UUID(str(notification.originator_id)), NO_COMMUNITY)
        return self._communities.get(code, Placed(code))


def cloud_event(app: FundLedger, notification: Notification, place: Placed) -> dict[str, Any]:
    event = event_decoder(app.mapper)(notification)
    aggregate, _, kind = type(event).__qualname__.rpartition(".")
    data = dict(vars(event))
    return {
        "specversion": "1.0",
        "id": str(notification.id),
        "source": f"fundledger/{app.name}",
        "type": f"fundledger.{aggregate}.{kind}",
        "subject": f"{place.community}/{notification.originator_id}",
        "time": data["timestamp"].isoformat(),
        "datacontenttype": "application/json",
        "position": notification.id,
        "community": place.community,
        "street": place.street,
        "district": place.district,
        "data": data,
    }


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, default=_json_default, ensure_ascii=False).encode()
