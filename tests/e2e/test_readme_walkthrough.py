"""The README's HTTP walk-through, run as written on a fresh demo database."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- walkthrough -->\n```sh\n(.*?)```\n<!-- /walkthrough -->", re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_walkthrough_works_as_pasted(tmp_path: Path) -> None:
    found = BLOCK.search((ROOT / "README.md").read_text())
    assert found, "the README has its walk-through block"
    script = found.group(1).replace("8000", str(_free_port()))  # only the port may differ
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDLEDGER_")}
    subprocess.run(["fundledger", "demo"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    deposit, account = json.loads(lines[0]), json.loads(lines[-1])
    assert deposit["already_posted"] is False and deposit["written"] == "deposit:top_up"
    assert account["unit_key"] == "1-101"
    assert account["deposits_fen"] == account["first_deposit_fen"] + 50_000
    assert account["deposits_yuan"].endswith(".00")
