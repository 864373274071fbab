"""Sealing beside other work in one process: follow the log with the sealer and sign a
checkpoint every so often, on threads, until stopped (what ``fundledger serve`` runs on the
embedded store, where nothing else would seal what its routes write)."""

from __future__ import annotations

import threading
from typing import Any

from projections.runner import Followers
from projections.seal.sealer import SealRunner, make_checkpoint, open_sealer, seal_and_checkpoint

CHECKPOINT_EVERY_S = 60.0


class SealFollower:
    def __init__(self, app: Any, *, checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.app = app
        self.sealer = open_sealer(app)
        self.every_s = checkpoint_every_s
        self.followers = Followers(SealRunner(app), [self.sealer])
        self.stopping = threading.Event()
        self.signer = threading.Thread(target=self._sign, name="checkpoints", daemon=True)

    def _sign(self) -> None:
        while not self.stopping.wait(self.every_s):
            if not self.followers.alive():
                return  # the sealer stopped on an error: stop() raises it
            make_checkpoint(self.app, self.sealer)

    def start(self) -> SealFollower:
        self.followers.start()
        self.signer.start()
        return self

    def stop(self) -> None:
        """Stop following; then seal what is left and sign a last checkpoint."""
        self.stopping.set()
        self.signer.join()
        self.followers.stop()  # raises a failure of the sealer's thread
        seal_and_checkpoint(self.app, self.sealer)
