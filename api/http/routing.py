"""The app's API routes, also those inside included routers (which FastAPI nests)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.routing import APIRoute


def api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def allowed_methods(routes: Sequence[Any], path: str) -> list[str]:
    """Every method some route serves at ``path``: a 405's ``Allow`` must list them all,
    where the router names only the first route whose path matched."""
    return sorted({method for route in api_routes(routes) if route.path_regex.match(path)
                   for method in route.methods or ()})
