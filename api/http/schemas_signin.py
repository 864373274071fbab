"""What the sign-in code route answers."""

from __future__ import annotations

from pydantic import Field

from api.http.models import IsoDateTime, Written


class SignInCodeIssued(Written):
    """A one-time sign-in code, shown only in this answer (the ledger keeps its digest)."""

    community_code: str
    owner_id: str
    unit_keys: list[str] = Field(description="The owner's units there, as `BUILDING-UNIT`.")
    code: str = Field(description="What the owner types at /web/signin, once.")
    link: str = Field(description="The sign-in page with the code in its fragment (a "
                                  "browser never sends a fragment, so no log holds it).")
    expires_at: IsoDateTime
