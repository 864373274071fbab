"""Log positions as query parameters, bounded by what the stores can hold.

Both stores keep notification ids in a signed 64-bit integer; a larger number in a query would
reach the driver and fail there, so the schema refuses it with the field named.
"""

from typing import Annotated

from fastapi import Query

LOG_POSITION_MAX = 2**63 - 1

AfterPosition = Annotated[int, Query(ge=0, le=LOG_POSITION_MAX,
                                     description="Log position to page after.")]
MinPosition = Annotated[int | None, Query(ge=0, le=LOG_POSITION_MAX, description=(
    "Read-your-writes: wait (bounded) until the view has applied this log position, the "
    "`position` a command answered."))]
