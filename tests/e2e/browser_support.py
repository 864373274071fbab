"""What the browser tests share: Debian's Chromium, a demo city served on a free port, and
screenshots. Playwright drives the system browser; it downloads none."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.demo import build_demo
from api.http.app import create_app
from api.http.services import Services
from ledger.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 375, "height": 812}
SHOTS = os.environ.get("FUNDLEDGER_SCREENSHOTS")
SERVER_START_S_MAX = 30

REQUIRE_BROWSER = os.environ.get("FUNDLEDGER_REQUIRE_BROWSER", "") not in ("", "0", "no")
if not CHROMIUM.exists() and REQUIRE_BROWSER:
    pytest.fail("Debian's chromium is missing (FUNDLEDGER_REQUIRE_BROWSER is set)",
                pytrace=False)
sync_api = pytest.importorskip("playwright.sync_api")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_site(folder: Path) -> Iterator[tuple[str, Services]]:
    """The demo city, served by ``fundledger serve``'s app on a free port: (base URL, services)."""
    app = create_app(Settings(db=str(folder / "fundledger.db"),
                              signing_key_file=folder / "signing.key"), follow_views=True)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_S_MAX
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    services: Services = app.state.services
    build_demo(services.ledger, folder / "demo")
    try:
        yield f"http://127.0.0.1:{port}", services
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_S_MAX)


@contextmanager
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page: Any, name: str) -> None:
    """Save a screenshot when FUNDLEDGER_SCREENSHOTS names a folder (docs/screenshots)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
