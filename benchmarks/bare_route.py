"""The HTTP floor for ``benchmarks/api.py``: FastAPI with nothing of fundledger behind it.

    python -m uvicorn bare_route:app --app-dir benchmarks --port PORT --no-access-log

One route shaped as the deposit route is: the same path, a body with the same fields and
types that pydantic validates, the Idempotency-Key header, a bearer token read by a plain
``def`` dependency and a plain ``def`` endpoint (so, as in the API, two trips to the thread
pool), answering 201 with a small JSON body. No database, no middleware of the app's own: what
a request costs before fundledger does anything, served by the same uvicorn (httptools,
uvloop) as ``fundledger serve``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import orjson
from fastapi import Depends, FastAPI, Header
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

app = FastAPI()
bearer = HTTPBearer(auto_error=True)


class Deposit(BaseModel):
    reference: str = Field(min_length=1, max_length=64)
    building: str = Field(min_length=1, max_length=32)
    unit: str = Field(min_length=1, max_length=32)
    amount_yuan: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$")
    paid_on: date
    kind: Literal["first", "top_up"]


def holder(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> str:
    return credentials.credentials[:8]


@app.post("/v1/communities/{code}/deposits", status_code=201)
def deposit(code: str, body: Deposit, who: Annotated[str, Depends(holder)],
            key: Annotated[str, Header(alias="Idempotency-Key")]) -> Response:
    answer = {"reference": body.reference, "community_code": code, "amount_fen": 10_000,
              "already_posted": False, "position": 0}
    return Response(orjson.dumps(answer), status_code=201, media_type="application/json")
