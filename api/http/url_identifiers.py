"""Identifiers in a request's URL, normalised as a body's are, before any route or shard reads them.

A body's identifiers pass through ``domain.identifiers.normalise`` (NFKC, trimmed) in the
models, as a CSV file's and the CLI's do; a URL's did not, so ``/v1/communities/ＣＹ３/fund``
answered 404 (and a shard gateway could not find the community's district) where the CLI's
``--community ＣＹ３`` names CY3, and ``GET /v1/audit?community=ＣＹ３`` found nothing at all.
So this is done once, in front of everything, rather than remembered per parameter:

* every path segment: in the API and the pages each is a fixed word or an identifier;
* the query parameters that name identifiers (``IDENTIFIER_PARAMETERS``). Free text, such as
  the audit trail's ``actor``, stays as sent: it is matched against what the log recorded.

What folding could make of something that is no identifier is not done: a value that would
fold into nothing, or into a slash or a dot segment (``／``, ``．．``: another route), or
grow longer (``㎏`` is ``kg``; an identifier typed full-width keeps its length) stays as
sent, for the route to refuse or not find as it would have.

A URL that is already normalised (nearly every one) is passed on untouched, checked in a
few string operations.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.identifiers import normalise

IDENTIFIER_PARAMETERS = frozenset(
    {"community", "district", "street", "code", "unit", "kind", "key", "after"})
_UNSAFE_SEGMENTS = frozenset({".", ".."})


def normalised_path(path: str) -> str:
    if path.isascii() and path.isprintable() and " " not in path:
        return path
    return "/".join(_segment(segment) for segment in path.split("/"))


def _segment(segment: str) -> str:
    folded = _folded(segment)
    return segment if folded in _UNSAFE_SEGMENTS or "/" in folded else folded


def _folded(value: str) -> str:
    folded = normalise(value)
    return folded if folded and len(folded) <= len(value) else value


def normalised_query(query: bytes) -> bytes:
    """The query string with its identifier parameters normalised, every other byte as sent."""
    if b"%" not in query and b"+" not in query:
        return query  # printable ASCII without spaces: nothing to fold or trim
    pieces = query.split(b"&")
    changed = False
    for index, piece in enumerate(pieces):
        raw_name, equals, raw_value = piece.partition(b"=")
        name = unquote_plus(raw_name.decode("latin-1"))
        if not equals or name not in IDENTIFIER_PARAMETERS:
            continue
        value = unquote_plus(raw_value.decode("latin-1"))
        folded = _folded(value)
        if folded != value:
            pieces[index] = f"{quote(name)}={quote(folded, safe='')}".encode("ascii")
            changed = True
    return b"&".join(pieces) if changed else query


def normalise_url(scope: Scope) -> None:
    """Normalise an HTTP request's path and identifier parameters in its scope, in place."""
    path = scope["path"]
    folded = normalised_path(path)
    if folded != path:
        scope["path"] = folded
    query = scope.get("query_string", b"")
    folded_query = normalised_query(query)
    if folded_query is not query:
        scope["query_string"] = folded_query


class NormalisedUrl:
    """ASGI middleware: ``normalise_url`` on every HTTP request, before the app routes it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            normalise_url(scope)
        await self.app(scope, receive, send)
