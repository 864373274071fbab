"""A projection runner killed with SIGKILL mid-stream applies every event exactly once.

``fundledger projections run --follow`` runs as a real process while this test keeps posting
deposits; it is killed with SIGKILL at random points (a fixed seed picks the pauses), while
the writes go on, and restarted. After the last kill a plain ``projections run`` catches up
to the end of the log. Then every view must be at the log's last position, and its checksum
must equal that of a rebuild from event one: a batch applied twice (or one lost) leaves the
balance view's sums, and the audit view's rows, different from the rebuild's.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ledger.application import FundLedger
from projections.runner import Runner, open_projection, rebuild, view_status
from projections.views import VIEWS
from tests.integration.test_fund_ledger import (
    CODE,
    DEPOSITS_HEADER,
    UNITS,
    funded,
    import_file,
    write_csv,
    yuan,
)

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260128
KILLS = 3
PROGRESS_WAIT_S = 20.0
CATCH_UP_TIMEOUT_S = 60.0


def _start_runner(db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FUNDLEDGER_DB": db_url}
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "ledger", "projections", "run", "--follow"],
            env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)


def _lowest_position(runner: Runner, projections: list) -> int:  # type: ignore[type-arg]
    return min(runner.position(p) for p in projections)


def test_a_runner_killed_repeatedly_applies_each_event_exactly_once(
    app: FundLedger, db_url: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    funded(app, tmp_path)
    runner = Runner(app)
    projections = [open_projection(app, view_class) for view_class in VIEWS.values()]
    log = tmp_path / "runner.log"

    stop_writing = threading.Event()
    written: list[int] = []
    writer_errors: list[BaseException] = []

    def write() -> None:
        # Top-ups of random amounts, one file of six lines at a time, until told to stop.
        writer_rng = random.Random(SEED + 1)
        batch = 0
        try:
            while not stop_writing.is_set():
                rows = [f"T-{batch}-{b}-{u},{CODE},{b},{u},"
                        f"{yuan(writer_rng.randrange(100, 50_000))},2024-02-01,top_up"
                        for b, u, _ in UNITS]
                path = write_csv(tmp_path / f"top-up-{batch}.csv", DEPOSITS_HEADER, rows)
                written.append(import_file(app, path).posted)
                batch += 1
                time.sleep(writer_rng.uniform(0.005, 0.04))
        except BaseException as error:  # reported by the test below
            writer_errors.append(error)

    writer = threading.Thread(target=write, name="writer", daemon=True)
    writer.start()
    process: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(KILLS):
            before = _lowest_position(runner, projections)
            process = _start_runner(db_url, log)
            # Kill it only once it has committed something, so each kill lands in a runner
            # that is working: catching up, following, or between batches.
            deadline = time.monotonic() + PROGRESS_WAIT_S
            while _lowest_position(runner, projections) <= before:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "the runner made no progress"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
            process = None
            time.sleep(rng.uniform(0.05, 0.3))  # writes go on while no runner runs
        stop_writing.set()
        writer.join(30)
        assert not writer.is_alive(), "the writer hung"
        assert not writer_errors, repr(writer_errors)
        assert sum(written) > 0

        caught_up = subprocess.run(
            [sys.executable, "-m", "ledger", "projections", "run"],
            env={**os.environ, "FUNDLEDGER_DB": db_url}, cwd=ROOT, capture_output=True,
            text=True, timeout=CATCH_UP_TIMEOUT_S, check=False)
        assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
    finally:
        stop_writing.set()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        writer.join(30)

    last = app.recorder.max_notification_id()
    assert last is not None and last > len(UNITS) * 2
    for projection in projections:
        name = projection.view.view_name
        state = view_status(runner, projection)
        assert state.failure is None, (name, state.failure)
        assert state.position == last, (name, state.position, last)
        after_kills = projection.view.checksum()
        assert rebuild(runner, projection) > 0
        assert runner.position(projection) == last, name
        assert projection.view.checksum() == after_kills, name
