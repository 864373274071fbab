"""How long the three-rates dashboard takes over the demo on the embedded store (SQLite).

    python benchmarks/dashboard.py [--rounds 20] [--no-browser]

It builds ``fundledger demo``'s city in a throwaway folder, serves it as ``fundledger serve``
does (views followed), signs a city auditor in by exchanging a token, then measures:
  (a) the server: GET /web/rates (the whole city, every figure from the view), p50 and max;
  (b) the browser (Debian's Chromium, headless, unless --no-browser): from navigation to both
      charts drawn, p50 and max, with the static files cached as a returning reader's are;
  (c) the trend alone: the city's year-end counts from the view's history, one read per year
      from the first target year, p50 and max (part of (a)).
The budget is 1 s for (b); the script says whether it held.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as `python benchmarks/dashboard.py`, this folder comes first on sys.path, and its
# api.py would shadow the package: take the folder off the path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from api.demo import build_demo  # noqa: E402
from api.http.app import create_app  # noqa: E402
from api.http.services import Services  # noqa: E402
from api.web.pages import beijing_today  # noqa: E402
from ledger.access import Principal, Role, Scope, new_token, token_digest  # noqa: E402
from ledger.settings import Settings  # noqa: E402
from projections.three_rates import trend_years  # noqa: E402

BUDGET_S = 1.0
CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summary(name: str, seconds: list[float]) -> float:
    p50 = statistics.median(seconds)
    print(f"{name}: p50 {p50 * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms "
          f"({len(seconds)} rounds)")
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app = create_app(Settings(db=str(folder / "fundledger.db"),
                                  signing_key_file=folder / "signing.key"), follow_views=True)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        services: Services = app.state.services
        print("building the demo city ...", flush=True)
        build_demo(services.ledger, folder / "demo")
        token, token_id = new_token()
        services.access.add_token(token_digest(token), Principal(
            f"auditor:{token_id}", Role.auditor, Scope.parse("city"), token_id))
        session_id, _ = services.signin().exchange_token(token, "benchmark")
        base = f"http://127.0.0.1:{port}/web"
        try:
            with httpx.Client(cookies={"fl_session": session_id}) as client:
                client.get(f"{base}/rates").raise_for_status()  # views caught up, warm
                server_s = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    client.get(f"{base}/rates").raise_for_status()
                    server_s.append(time.perf_counter() - started)
            _summary("(a) server GET /web/rates", server_s)
            years = trend_years(beijing_today().year)
            trend_s = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                services.three_rates.trend("city", years=years)
                trend_s.append(time.perf_counter() - started)
            _summary(f"(c) the city's trend, {len(years)} years", trend_s)
            if args.no_browser or not CHROMIUM.exists():
                return 0
            p50 = _browser(base, session_id, args.rounds)
            held = "held" if p50 < BUDGET_S else "NOT held"
            print(f"budget {BUDGET_S:.0f} s for the page with its charts: {held}")
            return 0 if p50 < BUDGET_S else 1
        finally:
            server.should_exit = True
            thread.join(timeout=30)


def _browser(base: str, session_id: str, rounds: int) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "fl_session", "value": session_id,
                              "url": base + "/"}])
        page = context.new_page()
        page.goto(f"{base}/rates")  # a returning reader: scripts in the browser's cache
        page.wait_for_selector("#trend-chart svg")
        seconds = []
        for _ in range(rounds):
            started = time.perf_counter()
            page.goto(f"{base}/rates")
            page.wait_for_selector("#rows-chart svg")
            page.wait_for_selector("#trend-chart svg")
            seconds.append(time.perf_counter() - started)
        browser.close()
    return _summary("(b) browser, navigation to both charts drawn", seconds)


if __name__ == "__main__":
    raise SystemExit(main())
