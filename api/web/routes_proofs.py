"""Proofs anyone can check: a page that verifies a proof or an exported bundle in the
reader's own browser (``static/verify.js``: Web Crypto's SHA-256 and Ed25519), so the reader
trusts the math, not this server.

The page itself needs no sign-in: it computes nothing on the server and is sent nothing but
what the reader pastes or picks. It shows the key of the ledger's latest checkpoint with its
fingerprint, to compare with the one the reader holds from elsewhere (a printed disclosure,
the fund office); the key field is the reader's to change. A signed-in viewer may also have
the page filled with the proof of a community's own stream at the latest checkpoint (the
disclosure's QR code opens it), if the community is in the viewer's scope.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.web.pages import PageNotFound, ServicesDep, current_viewer, render
from domain.errors import NotFound
from domain.ids import community_id
from projections.seal.evidence import prove_event
from projections.seal.proofs import Checkpoint, SealError, stream_key
from projections.seal.sealer import latest_checkpoint

router = APIRouter()


def fingerprint(public_key: bytes) -> str:
    """SHA-256 of the raw 32-byte key, its first 16 bytes in groups of four hex digits
    (``verify.js`` prints the same for the key the reader checks against)."""
    digest = hashlib.sha256(public_key).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def community_proof(svc: ServicesDep, checkpoint: Checkpoint, code: str) -> str | None:
    """The proof of the community's own stream at its last version the checkpoint covers."""
    key = stream_key(community_id(code))
    events = svc.sealer().store.stream_events([key], checkpoint.position)
    if not events:
        return None
    try:
        proof = prove_event(svc.ledger, key, events[-1][2], sealer=svc.sealer())
    except SealError:
        return None
    return json.dumps(proof, ensure_ascii=False, indent=1)


@router.get("/proofs")
def proofs_page(request: Request, svc: ServicesDep,
                community: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
                ) -> HTMLResponse:
    viewer = current_viewer(request)
    checkpoint = latest_checkpoint(svc.ledger, svc.sealer().store)
    proof = None
    if community is not None:
        if viewer is None:
            raise PageNotFound()
        try:
            place = svc.community_place(community)
        except NotFound:
            raise PageNotFound() from None
        if not viewer.session.principal.scope.holds(place) and viewer.session.community_code != (
                community):
            raise PageNotFound()
        proof = community_proof(svc, checkpoint, community) if checkpoint else None
    return render(request, "proofs.html", {
        "checkpoint": checkpoint, "community": community, "proof": proof,
        "fingerprint": fingerprint(checkpoint.public_key) if checkpoint else None},
        viewer=viewer)
