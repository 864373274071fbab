"""A TCP proxy in front of the test PostgreSQL server, to lose connections on purpose.

The ledger connects through it; a test can then cut every connection (as a network drop or
a server restart would), drop the server's replies for a while (so a commit happens but its
answer never arrives), or stop listening (the database is unreachable), and start again.
The server itself is never touched: other tests keep using it.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

PUMP_POLL_S = 0.2
CHUNK_BYTES = 65_536


class PgProxy:
    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.replies_dropped = threading.Event()  # set: the server's bytes are thrown away
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])

    def url(self, database_url: str) -> str:
        """``database_url`` (on the target server) reached through the proxy."""
        host = f"{self.target[0]}:{self.target[1]}"
        assert host in database_url, database_url
        return database_url.replace(host, f"127.0.0.1:{self.port}")

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones: the database is unreachable."""
        if self._listener is not None:
            with suppress(OSError):  # wakes the accepting thread (close alone would not)
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()

    def cut(self) -> None:
        """Close every open connection, both ways."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        other = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], PUMP_POLL_S)
                for sock in readable:
                    data = sock.recv(CHUNK_BYTES)
                    if not data:
                        return
                    if sock is upstream and self.replies_dropped.is_set():
                        continue
                    other[sock].sendall(data)
        except (OSError, ValueError):
            return  # cut
        finally:
            for sock in (client, upstream):
                sock.close()


@contextmanager
def pg_proxy() -> Iterator[PgProxy]:
    proxy = PgProxy()
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
