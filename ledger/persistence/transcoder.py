"""An orjson transcoder for stored events, several times faster than the stdlib ``json``.

It writes the same ``{"_type_": ..., "_data_": ...}`` envelopes as eventsourcing's
JSONTranscoder for the non-JSON types our events and snapshots hold (datetime, date,
Decimal), so stored state stays readable by either. orjson writes a UUID as a plain
string with no hook to intercept it, so events carry ids as strings, never as UUIDs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _encode_other(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {"_type_": "datetime_iso", "_data_": obj.isoformat()}
    if isinstance(obj, date):
        return {"_type_": "date_iso", "_data_": obj.isoformat()}
    if isinstance(obj, Decimal):
        return {"_type_": "decimal_str", "_data_": str(obj)}
    raise TypeError(f"cannot store a {type(obj).__name__} in an event: {obj!r}")


_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime_iso": datetime.fromisoformat,
    "date_iso": date.fromisoformat,
    "decimal_str": Decimal,
}


def _decode_tree(value: Any) -> Any:
    """Turn the envelopes back into values, in place.

    Catching up a view decodes every event it reads, so this is on the hot path: it only
    descends into containers, turns an envelope back into its value without a call per
    envelope, and rewrites the parsed dicts in place rather than copying each.
    """
    if type(value) is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return _DECODERS[value["_type_"]](value["_data_"])
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    value[key] = _DECODERS[item["_type_"]](item["_data_"])
                else:
                    value[key] = _decode_tree(item)
            elif kind is list:
                value[key] = _decode_tree(item)
        return value
    if type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict or kind is list:
                value[index] = _decode_tree(item)
    return value


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_encode_other, option=_OPTIONS)

    def decode(self, data: bytes) -> Any:
        return _decode_tree(orjson.loads(data))
