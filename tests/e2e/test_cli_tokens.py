"""`fundledger tokens`: one holder per name, said in one line; rotation keeps the holder."""

from __future__ import annotations

from pathlib import Path

from ledger.access import Principal, Role, Scope, new_token, token_digest
from ledger.application import FundLedger
from ledger.persistence.access_tables import open_access_tables
from ledger.settings import Settings
from tests.e2e.test_cli import fundledger, said


def test_a_second_token_with_a_name_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    made = fundledger(tmp_path, "tokens", "create", "--role", "custodian", "--scope",
                      "district:110105", "--name", "office")
    token_id = made.stdout.strip().removeprefix("flt_").split("_", 1)[0]
    again = fundledger(tmp_path, "tokens", "create", "--role", "custodian", "--scope",
                       "district:110108", "--name", "office", expect=4)  # a conflict
    assert not again.stdout  # no token printed
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "rule token-name" in said(again.stderr) and "field name" in said(again.stderr)
    fundledger(tmp_path, "tokens", "revoke", token_id)
    fundledger(tmp_path, "tokens", "create", "--role", "auditor", "--name", "office", expect=4)
    malformed = fundledger(tmp_path, "tokens", "create", "--role", "auditor", "--name",
                           "街道办 王", expect=3)  # a rule of its form
    assert "rule token-name" in said(malformed.stderr)


def test_rotating_a_token_gives_its_holder_a_new_one(tmp_path: Path) -> None:
    made = fundledger(tmp_path, "tokens", "create", "--role", "custodian", "--name", "office")
    old_id = made.stdout.strip().removeprefix("flt_").split("_", 1)[0]
    rotated = fundledger(tmp_path, "tokens", "rotate", old_id)
    new = rotated.stdout.strip()
    assert new.startswith("flt_") and old_id not in new
    assert f"replaces {old_id}" in said(rotated.stderr) and "office" in rotated.stderr
    gone = fundledger(tmp_path, "tokens", "rotate", old_id, expect=3)  # revoked by rotation
    assert f"no live token {old_id}" in said(gone.stderr)


def test_a_developers_city_wide_token_is_not_rotated_into_another(tmp_path: Path) -> None:
    """owner:developer holds nothing now (every community's unsold units share the id): a
    token made with it before is refused rotation, naming the scope to make instead."""
    token, token_id = new_token()
    app = FundLedger(Settings(db=str(tmp_path / "ledger.db")))
    try:
        tables = open_access_tables(app.recorder)
        tables.add_token(token_digest(token), Principal(
            "developer-old", Role.owner, Scope.parse("owner:developer"), token_id))
        refused = fundledger(tmp_path, "tokens", "rotate", token_id, expect=3)
        assert "rule scope" in said(refused.stderr)
        assert "owner:developer/<community code>" in said(refused.stderr)
        assert not refused.stdout
        # Nothing changed: the old token is neither revoked nor joined by a new one.
        assert [(t.token_id, t.revoked_at) for t in tables.list_tokens()] == [(token_id, None)]
    finally:
        app.close()
