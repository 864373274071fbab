"""Tamper evidence on a real store: each kind of tampering straight on the tables is named.

A small history (two communities, unit accounts with four events each) is sealed and
checkpointed; then one row of the events table is changed, deleted, moved or forged with
plain SQL, as someone with database access would, and ``verify_ledger`` (and the CLI) must
name the first bad event's stream, version and log position. Both stores.
"""

from __future__ import annotations

import io
import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest
from typer.testing import CliRunner

from api import cli as _registers_commands  # noqa: F401
from api.cli_common import cli
from domain.ids import community_id, unit_account_id
from domain.unit_account import first_deposit_due_fen
from ledger.application import FundLedger
from ledger.commands import DepositLine, UnitRow
from projections.seal import evidence
from projections.seal import sealer as sealer_module
from projections.seal.evidence import VerifyReport, export_community, prove_event, verify_ledger
from projections.seal.proofs import (
    SealError,
    load_signing_key,
    public_key_bytes,
    verify_bundle,
    verify_proof,
)
from projections.seal.sealer import (
    PostgresSealRecorder,
    checkpoints,
    make_checkpoint,
    open_sealer,
    seal,
    seal_and_checkpoint,
)

CODES = ("CY-A", "CY-B")
UNITS = (("1", "101"), ("1", "102"), ("2", "101"))
RATE = 20_000  # the default deposit rate, fen per m²
TOP_UPS = 3  # each unit account: Registered, FirstDepositPaid, then top-ups


@pytest.fixture(autouse=True, params=["one pass", "ranges in parallel"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every check twice: the walk in one pass, and split into ranges across processes (on
    PostgreSQL; SQLite walks in one pass either way), which must find the same."""
    if request.param == "ranges in parallel":
        monkeypatch.setattr(evidence, "PARALLEL_MIN_EVENTS", 0)
        monkeypatch.setattr(evidence, "verify_workers", lambda: 3)
    else:
        monkeypatch.setattr(evidence, "verify_workers", lambda: 1)
    return str(request.param)


@pytest.fixture(autouse=True)
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "signing.key"
    monkeypatch.setenv("FUNDLEDGER_SIGNING_KEY_FILE", str(path))
    return path


class Raw:
    """The events table as someone with database access sees it."""

    def __init__(self, db_url: str) -> None:
        self.postgres = db_url.startswith("postgresql")
        if self.postgres:
            url = urlparse(db_url)
            self.schema = parse_qs(url.query)["schema"][0]
            self.conn: Any = psycopg.connect(db_url.split("?")[0], autocommit=True)
            self.conn.execute(f'SET search_path TO "{self.schema}"')
            self.table, self.position = "fundledger_events", "notification_id"
        else:
            self.conn = sqlite3.connect(db_url, isolation_level=None)
            self.table, self.position = "stored_events", "rowid"

    def q(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.format(t=self.table, pos=self.position)
        if self.postgres:
            cursor = self.conn.execute(sql.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []
        return list(self.conn.execute(sql, params).fetchall())

    def oid(self, stream: uuid.UUID) -> Any:
        return stream if self.postgres else stream.hex

    def position_of(self, stream: uuid.UUID, version: int) -> int:
        rows = self.q("SELECT {pos} FROM {t} WHERE originator_id = ? AND originator_version = ?",
                      (self.oid(stream), version))
        return int(rows[0][0])

    def close(self) -> None:
        self.conn.close()


def area_of(n: int) -> int:
    return 8_000 + n * 100


def units(code: str) -> list[UnitRow]:
    return [UnitRow(code, f"Garden {code}", "110105", "110105001", b, u, area_of(n),
                    "register", [f"owner-{code}-{n}"]) for n, (b, u) in enumerate(UNITS)]


def deposits(code: str, round_: int) -> list[DepositLine]:
    return [DepositLine(f"{code}-{b}-{u}-{round_}", code, b, u,
                        first_deposit_due_fen(area_of(n), RATE) if round_ == 0 else 10_000,
                        date(2026, 1, 1) + timedelta(days=round_),
                        "first" if round_ == 0 else "top_up")
            for n, (b, u) in enumerate(UNITS)]


def write_history(app: FundLedger, rounds: range) -> None:
    for round_ in rounds:
        for code in CODES:
            if round_ == 0:
                app.register_units(units(code), effective_date=date(2026, 1, 1), actor="t")
            app.import_deposits(deposits(code, round_), actor="t")


@pytest.fixture
def raw(db_url: str) -> Iterator[Raw]:
    found = Raw(db_url)
    yield found
    found.close()


@pytest.fixture
def sealed(app: FundLedger) -> FundLedger:
    write_history(app, range(TOP_UPS + 1))
    seal(app)
    assert make_checkpoint(app) is not None
    return app


UNIT = unit_account_id("CY-A", "1", "102")
LAST_VERSION = TOP_UPS + 2


def assert_named(report: VerifyReport, kind: str, stream: uuid.UUID, version: int,
                 position: int) -> None:
    assert report.problem is not None, report
    assert (report.problem.kind, report.problem.originator_id, report.problem.version,
            report.problem.position) == (kind, str(stream), version, position), report.problem
    assert str(stream) in report.problem.message and str(position) in report.problem.message


# -- a clean history ----------------------------------------------------------------------


def test_a_clean_history_verifies_and_later_events_are_reported_unsealed(
        sealed: FundLedger, raw: Raw) -> None:
    report = verify_ledger(sealed, trusted_key=public_key_bytes(load_signing_key()))
    assert report.ok, report.problem
    ((events, streams),) = raw.q("SELECT count(*), count(DISTINCT originator_id) FROM {t}")
    assert (report.events, report.streams, report.unsealed) == (events, streams, 0)
    assert streams == len(CODES) * (1 + len(UNITS))
    assert report.checkpoint is not None and report.checkpoint.events == events
    sealed.import_deposits(deposits("CY-B", 9), actor="t")
    later = verify_ledger(sealed)
    assert later.ok and later.unsealed == len(UNITS)
    seal(sealed)
    assert verify_ledger(sealed).unsealed == 0


def test_the_walk_split_across_processes_gives_the_one_pass_report(
        sealed: FundLedger, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite walks in one pass")
    # Checkpoints at two positions, streams crossing every range boundary, and an
    # unsealed tail.
    sealed.import_deposits(deposits("CY-B", 8), actor="t")
    seal(sealed)
    make_checkpoint(sealed, open_sealer(sealed))
    sealed.import_deposits(deposits("CY-A", 9), actor="t")
    walked: list[VerifyReport | None] = []
    parallel_walk = evidence._parallel_walk

    def spy(*args: Any, **kwargs: Any) -> VerifyReport | None:
        walked.append(parallel_walk(*args, **kwargs))
        return walked[-1]

    monkeypatch.setattr(evidence, "_parallel_walk", spy)
    one_pass = verify_ledger(sealed, workers=1, all_roots=True)
    assert one_pass.ok and one_pass.unsealed == len(UNITS) and not walked
    assert len({c.position for c in checkpoints(sealed, open_sealer(sealed).store)}) == 2
    for workers in (2, 3, 5, 11):
        assert verify_ledger(sealed, workers=workers, all_roots=True) == one_pass
        assert walked[-1] == one_pass  # the processes' own report, not the fallback's


def test_split_across_processes_any_one_event_changed_under_the_checkpoint_is_named(
        sealed: FundLedger, raw: Raw, walk: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to the checkpoint the walkers read the events without their digest rows, and a
    range hands the heads it recomputed to the next: an event changed in any range, whose
    own range then sees nothing wrong, must still be caught (and the one pass names it)."""
    if not raw.postgres or walk == "one pass":
        pytest.skip("SQLite walks in one pass; the processes are asked for here")
    alone = tmp_path / "read-alone"
    read_events_range = PostgresSealRecorder.read_events_range

    def noted(self: PostgresSealRecorder, *args: Any) -> Any:
        with alone.open("a") as marks:  # the walkers are forked: a file, not a list
            marks.write("x")
        return read_events_range(self, *args)

    monkeypatch.setattr(PostgresSealRecorder, "read_events_range", noted)
    assert verify_ledger(sealed, workers=3).ok
    assert alone.read_text(), "the walkers did not read events alone"
    ((last,),) = raw.q("SELECT max({pos}) FROM {t}")
    for position, state in raw.q("SELECT {pos}, state FROM {t} ORDER BY {pos}"):
        changed = bytearray(state)
        changed[-2] ^= 1
        raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (bytes(changed), position))
        report = verify_ledger(sealed, workers=3)
        raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (bytes(state), position))
        assert report.problem is not None and report.problem.position == position, (
            position, last, report.problem)
    assert verify_ledger(sealed, workers=3).ok


def test_a_digest_row_changed_alone_is_named_by_a_walk_comparing_every_digest(
        db_url: str, sealed: FundLedger, raw: Raw, walk: str) -> None:
    """A digest row under a checkpoint changed alone changes no event: ``verify
    --every-digest`` compares every row and names it; a proof of the event after it refuses
    (its chain starts from that row)."""
    if walk == "one pass":
        pytest.skip("the CLI option asks for the one pass itself")
    position = raw.position_of(UNIT, 2)
    raw.q("UPDATE event_digests SET digest = ? WHERE notification_id = ?",
          (b"\x07" * 32, position))
    found = CliRunner().invoke(cli, ["verify", "--every-digest"],
                               env={"FUNDLEDGER_DB": db_url, "COLUMNS": "200"})
    assert found.exit_code == 1, found.output
    assert f"stream {UNIT} version 2 position {position}" in found.output
    with pytest.raises(SealError):
        prove_event(sealed, UNIT, 3)


def test_a_sealer_remembering_few_heads_seals_the_digests_one_reading_every_head_does(
        app: FundLedger, raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL a sealer chains on the heads it remembers from its earlier batches; with
    room for fewer heads than there are streams, and another sealer sealing in between (its
    heads then out of date), it must seal exactly what a sealer reading every head does."""
    if not raw.postgres:
        pytest.skip("the SQLite sealer reads every head")
    monkeypatch.setattr(sealer_module, "SEAL_BATCH_EVENTS", 5)
    monkeypatch.setattr(sealer_module, "KNOWN_HEADS_MAX", 3)
    write_history(app, range(TOP_UPS + 1))
    first = open_sealer(app)
    seal(app, first)
    assert len(first.store.known_heads) == 3  # type: ignore[attr-defined]
    app.import_deposits(deposits("CY-A", 7), actor="t")
    seal(app, open_sealer(app))  # another process seals these
    app.import_deposits(deposits("CY-A", 8), actor="t")
    assert seal(app, first) == len(UNITS)
    make_checkpoint(app, first)
    assert verify_ledger(app).ok
    digests = raw.q("SELECT notification_id, digest FROM event_digests ORDER BY 1")
    monkeypatch.setattr(sealer_module, "KNOWN_HEADS_MAX", 0)
    reading = open_sealer(app)
    reading.store.drop()
    seal(app, reading)
    assert raw.q("SELECT notification_id, digest FROM event_digests ORDER BY 1") == digests


# -- tampering, one kind at a time ----------------------------------------------------------


def test_one_changed_byte_of_state_is_named(sealed: FundLedger, raw: Raw) -> None:
    position = raw.position_of(UNIT, 3)
    (state,) = raw.q("SELECT state FROM {t} WHERE {pos} = ?", (position,))[0]
    changed = bytearray(state)
    changed[changed.index(b'"amount_fen":') + 13] ^= 1  # one digit of the amount
    raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (bytes(changed), position))
    assert_named(verify_ledger(sealed), "altered", UNIT, 3, position)


def test_a_nulled_topic_is_named_not_a_crash(sealed: FundLedger, raw: Raw) -> None:
    position = raw.position_of(UNIT, 2)
    raw.q("UPDATE {t} SET topic = NULL WHERE {pos} = ?", (position,))
    assert_named(verify_ledger(sealed), "altered", UNIT, 2, position)


def test_an_event_deleted_in_the_middle_of_a_stream_is_named(
        sealed: FundLedger, raw: Raw) -> None:
    position = raw.position_of(UNIT, 2)
    raw.q("DELETE FROM {t} WHERE {pos} = ?", (position,))
    assert_named(verify_ledger(sealed), "deleted", UNIT, 2, position)


def test_the_last_event_of_a_stream_deleted_is_named(sealed: FundLedger, raw: Raw) -> None:
    position = raw.position_of(UNIT, LAST_VERSION)
    raw.q("DELETE FROM {t} WHERE {pos} = ?", (position,))
    assert_named(verify_ledger(sealed), "deleted", UNIT, LAST_VERSION, position)


def test_the_last_event_deleted_with_its_digest_is_caught_by_the_checkpoint(
        sealed: FundLedger, raw: Raw) -> None:
    position = raw.position_of(UNIT, LAST_VERSION)
    raw.q("DELETE FROM {t} WHERE {pos} = ?", (position,))
    raw.q("DELETE FROM event_digests WHERE notification_id = ?", (position,))
    report = verify_ledger(sealed)
    assert report.problem is not None and report.problem.kind == "checkpoint"
    assert report.problem.position == report.checkpoint.position  # type: ignore[union-attr]


def alter_amount(raw: Raw, position: int) -> None:
    (state,) = raw.q("SELECT state FROM {t} WHERE {pos} = ?", (position,))[0]
    changed = bytearray(state)
    changed[changed.index(b'"amount_fen":') + 13] ^= 1
    raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (bytes(changed), position))


def test_of_a_deletion_and_an_alteration_the_earlier_in_the_log_is_named(
        sealed: FundLedger, raw: Raw) -> None:
    """The deleted event is searched for beside the walk: it must still be named before an
    alteration later in the log, and after one earlier in it."""
    community = community_id("CY-A")
    ((last,),) = raw.q("SELECT max(originator_version) FROM {t} WHERE originator_id = ?",
                       (raw.oid(community),))
    gone = raw.position_of(community, last)  # a stream's last event: no gap shows it
    later = raw.position_of(UNIT, 3)
    assert gone < later
    raw.q("DELETE FROM {t} WHERE {pos} = ?", (gone,))
    alter_amount(raw, later)
    assert_named(verify_ledger(sealed), "deleted", community, last, gone)


def test_of_an_alteration_and_a_later_deletion_the_alteration_is_named(
        sealed: FundLedger, raw: Raw) -> None:
    earlier = raw.position_of(UNIT, 2)
    gone = raw.position_of(UNIT, LAST_VERSION)
    alter_amount(raw, earlier)
    raw.q("DELETE FROM {t} WHERE {pos} = ?", (gone,))
    assert_named(verify_ledger(sealed), "altered", UNIT, 2, earlier)


def test_two_events_with_swapped_versions_are_named(sealed: FundLedger, raw: Raw) -> None:
    first, second = raw.position_of(UNIT, 2), raw.position_of(UNIT, 3)
    raw.q("UPDATE {t} SET originator_version = -1 WHERE {pos} = ?", (first,))
    raw.q("UPDATE {t} SET originator_version = 2 WHERE {pos} = ?", (second,))
    raw.q("UPDATE {t} SET originator_version = 3 WHERE {pos} = ?", (first,))
    assert_named(verify_ledger(sealed), "reordered", UNIT, 3, first)


def test_an_event_inserted_after_the_fact_is_named(app: FundLedger, raw: Raw) -> None:
    write_history(app, range(2))
    # A free position inside what will be sealed, as a rolled-back save leaves on PostgreSQL.
    if raw.postgres:
        raw.q("SELECT nextval(pg_get_serial_sequence('{t}', 'notification_id'))")
        (free,) = raw.q("SELECT currval(pg_get_serial_sequence('{t}', 'notification_id'))")[0]
    else:
        (top,) = raw.q("SELECT max(rowid) FROM {t}")[0]
        free = top + 1
        raw.q("INSERT INTO {t} (rowid, originator_id, originator_version, topic, state) "
              "VALUES (?, 'placeholder', 1, 't', x'00')", (top + 2,))
    write_history(app, range(2, 4))
    if not raw.postgres:
        raw.q("DELETE FROM {t} WHERE originator_id = 'placeholder'")
    seal(app)
    make_checkpoint(app)
    assert verify_ledger(app).ok
    forged = uuid.uuid4()
    template = raw.position_of(UNIT, 2)
    (topic, state) = raw.q("SELECT topic, state FROM {t} WHERE {pos} = ?", (template,))[0]
    raw.q("INSERT INTO {t} ({pos}, originator_id, originator_version, topic, state) "
          "VALUES (?, ?, 1, ?, ?)", (free, raw.oid(forged), topic, state))
    assert_named(verify_ledger(app), "inserted", forged, 1, free)


def test_a_forged_checkpoint_signature_is_rejected(sealed: FundLedger, raw: Raw,
                                                   tmp_path: Path) -> None:
    ((position, signature),) = raw.q("SELECT position, signature FROM seal_checkpoints")
    forged = bytearray(signature)
    forged[0] ^= 1
    raw.q("UPDATE seal_checkpoints SET signature = ? WHERE position = ?", (bytes(forged), position))
    report = verify_ledger(sealed)
    assert report.problem is not None and report.problem.kind == "checkpoint"
    assert "signature" in report.problem.message and report.problem.position == position


def test_a_checkpoint_signed_by_another_key_is_rejected_against_the_trusted_key(
        sealed: FundLedger, raw: Raw) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate()
    (checkpoint,) = [c for c in [make_checkpoint(sealed)] if c is not None]
    resigned = other.sign(checkpoint.signed_bytes())
    raw.q("UPDATE seal_checkpoints SET signature = ?, public_key = ?",
          (resigned, public_key_bytes(other)))
    assert verify_ledger(sealed).ok  # self-consistent, but...
    trusted = verify_ledger(sealed, trusted_key=public_key_bytes(load_signing_key()))
    assert trusted.problem is not None and "another key" in trusted.problem.message


def test_a_log_altered_and_sealed_again_is_caught_by_an_earlier_checkpoint(
        sealed: FundLedger, raw: Raw) -> None:
    """Someone holding the database and the signing key re-seals an altered log."""
    earlier = make_checkpoint(sealed)
    assert earlier is not None
    position = raw.position_of(UNIT, 3)
    raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (b'{"forged":true}', position))
    sealer = open_sealer(sealed)
    sealer.view.drop()
    sealed.import_deposits(deposits("CY-B", 9), actor="t")
    later = seal_and_checkpoint(sealed, sealer)[1]
    assert later is not None and later.position > earlier.position
    assert verify_ledger(sealed).ok  # the latest checkpoint signs the altered log...
    for report in (verify_ledger(sealed, all_roots=True), verify_ledger(sealed, external=earlier)):
        assert report.problem is not None and report.problem.kind == "checkpoint"
        assert report.problem.position == earlier.position


# -- proofs and bundles ---------------------------------------------------------------------


def test_a_proof_of_one_event_verifies_offline_and_fails_when_edited(
        sealed: FundLedger) -> None:
    key = public_key_bytes(load_signing_key())
    proof = json.loads(json.dumps(prove_event(sealed, UNIT, 2)))
    assert verify_proof(proof, key) is True
    assert verify_proof(json.dumps(proof), key.hex()) is True
    edited = json.loads(json.dumps(proof))
    edited["event"]["state"] = edited["event"]["state"].replace('"amount_fen":', '"amount_fen":1')
    with pytest.raises(SealError, match="does not reach the sealed head"):
        verify_proof(edited, key)
    forged = json.loads(json.dumps(proof))
    forged["checkpoint"]["signature"] = "00" * 64
    with pytest.raises(SealError, match="forged"):
        verify_proof(forged, key)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pytest.raises(SealError, match="another key"):
        verify_proof(proof, public_key_bytes(Ed25519PrivateKey.generate()))


def test_an_export_bundle_verifies_offline_and_any_edited_byte_fails(
        sealed: FundLedger) -> None:
    buffer = io.BytesIO()
    exported = export_community(sealed, "CY-A", buffer)
    assert exported.streams == 1 + len(UNITS)
    bundle = buffer.getvalue()
    key = public_key_bytes(load_signing_key())
    report = verify_bundle(io.BytesIO(bundle), key)
    assert (report.community, report.streams, report.events) == (
        "CY-A", exported.streams, exported.events)
    assert community_id("CY-B").hex not in bundle.decode()
    rng = random.Random(7)
    amount = bundle.index(b'amount_fen\\":') + len(b'amount_fen\\":')  # state is JSON text
    assert bundle[amount:amount + 1].isdigit()
    for at in [amount, *rng.sample(range(len(bundle) - 1), 40)]:
        edited = bytearray(bundle)
        edited[at] ^= 1
        with pytest.raises(SealError):
            verify_bundle(io.BytesIO(bytes(edited)), key)
    # A whole stream left out, the counts made to agree: the community's register says so.
    records = [json.loads(line) for line in bundle.splitlines()]
    kept = [r for r in records if r.get("originator_id") != UNIT.hex]
    kept[0]["streams"] -= 1
    kept[0]["events"] -= sum(1 for r in records if r.get("originator_id") == UNIT.hex
                             and r["kind"] == "event")
    shorter = b"".join(json.dumps(r).encode() + b"\n" for r in kept)
    with pytest.raises(SealError, match="lacks streams the community's own events name: unit"):
        verify_bundle(io.BytesIO(shorter), key)


# -- the CLI on a real database -------------------------------------------------------------


def test_the_cli_verifies_then_names_an_event_updated_with_sql(
        db_url: str, sealed: FundLedger, raw: Raw, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"FUNDLEDGER_DB": db_url, "COLUMNS": "200"}

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env)

    assert run("seal").exit_code == 0
    checkpoint_file = tmp_path / "checkpoint.json"
    assert run("checkpoint", "--out", str(checkpoint_file)).exit_code == 0
    clean = run("verify", "--from-checkpoint", str(checkpoint_file))
    assert clean.exit_code == 0, clean.output
    assert "verified" in clean.output
    bundle = tmp_path / "cy-a.jsonl"
    assert run("export", "CY-A", "--out", str(bundle)).exit_code == 0
    assert run("verify", "--bundle", str(bundle)).exit_code == 0
    position = raw.position_of(UNIT, 2)
    raw.q("UPDATE {t} SET state = ? WHERE {pos} = ?", (b'{"forged":true}', position))
    tampered = run("verify")
    assert tampered.exit_code == 1
    assert f"stream {UNIT} version 2 position {position}" in tampered.output
    assert run("verify", "--bundle", str(bundle)).exit_code == 0  # the bundle stands alone

