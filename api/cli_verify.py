"""``fundledger seal / checkpoint / verify / proof / export / public-key``: tamper evidence.

``verify`` exits 0 when every chain and checkpoint checks out, 1 naming the first bad
event's stream, version and log position otherwise (2 for unusable input, as elsewhere).
``verify --bundle FILE`` needs no database at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.markup import escape

from api.cli_common import answer, cli, err, ledger, out, progress_bar
from ledger.application import FundLedger
from projections.runner import Followers, ProjectionFailed
from projections.seal.evidence import export_community, prove_event, verify_ledger
from projections.seal.proofs import (
    Checkpoint,
    SealError,
    load_signing_key,
    public_key_bytes,
    read_checkpoint_file,
    signing_key_path,
    verify_bundle,
)
from projections.seal.sealer import SealRunner, make_checkpoint, open_sealer, seal_and_checkpoint

PublicKeyOption = Annotated[str | None, typer.Option(
    "--public-key", help="The ledger's public key (hex) as the auditor holds it.")]


def _refuse(error: SealError) -> typer.Exit:
    err.print(f"[red]{escape(str(error))}[/]")
    return typer.Exit(2)


def _seal_and_checkpoint(app: FundLedger) -> Checkpoint | None:
    sealer = open_sealer(app)
    with progress_bar() as bar:
        task = bar.add_task("sealing", total=app.recorder.max_notification_id() or 0)
        sealed, made = seal_and_checkpoint(app, sealer, progress=lambda n: bar.advance(task, n))
    where = "" if made is None else (
        f"; checkpoint at position {made.position:,} ({made.events:,} events, "
        f"{made.streams:,} streams)")
    err.print(f"sealed {sealed:,} new events{where}")
    answer({"sealed": sealed, "checkpoint": None if made is None else made.to_json()})
    return made


@cli.command("seal")
def seal_command(
    follow: Annotated[bool, typer.Option(
        "--follow", help="Then seal new events as they are written, until Ctrl-C.")] = False,
    checkpoint_every_s: Annotated[float, typer.Option(
        "--checkpoint-every-s", min=1.0, help="With --follow: sign a checkpoint this often "
        "(when something was sealed).")] = 60.0,
) -> None:
    """Seal every event written so far and sign a checkpoint over the log."""
    with ledger() as app:
        _seal_and_checkpoint(app)
        if follow:
            _follow(app, checkpoint_every_s)


def _follow(app: FundLedger, every_s: float) -> None:
    sealer = open_sealer(app)
    followers = Followers(SealRunner(app), [sealer]).start()
    err.print(f"sealing as events are written, a checkpoint every {every_s:g} s; Ctrl-C stops")
    next_at = time.monotonic() + every_s
    try:
        try:
            while followers.alive():
                followers.join(timeout_s=0.5)  # short joins keep ^C responsive
                if time.monotonic() >= next_at:
                    make_checkpoint(app, sealer)
                    next_at = time.monotonic() + every_s
        except KeyboardInterrupt:
            pass
        followers.stop()
    except (SealError, ProjectionFailed) as error:
        err.print(f"[red]sealing stopped: {escape(str(error))}[/]")
        raise typer.Exit(1) from None
    # The follower's last batch may have ended inside a save; this checkpoint does not.
    _seal_and_checkpoint(app)


@cli.command()
def checkpoint(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Also write the signed checkpoint here, for the auditor to keep.")] = None,
) -> None:
    """Seal, sign a checkpoint now, and print it (JSON) or write it to a file."""
    with ledger() as app:
        made = _seal_and_checkpoint(app)
    if made is None:
        err.print("[red]the log is empty: nothing to checkpoint[/]")
        raise typer.Exit(2)
    text = json.dumps(made.to_json(), indent=2)
    answer({"file": None if out_file is None else str(out_file)})
    if out_file is None:
        out.print_json(text)
    else:
        out_file.write_text(text + "\n", encoding="utf-8")
        out.print(f"checkpoint at position {made.position:,} written to {out_file}")


@cli.command("public-key")
def public_key() -> None:
    """The ledger's public key (hex): what an auditor pins to check checkpoints and proofs."""
    key = public_key_bytes(load_signing_key()).hex()
    answer({"public_key": key})
    out.print(key)


def _trusted_key(given: str | None, external: Checkpoint | None) -> bytes | str | None:
    if given is not None:
        return given
    if external is not None:
        return external.public_key
    if signing_key_path().exists():
        return public_key_bytes(load_signing_key(create=False))
    return None


@cli.command()
def verify(
    from_checkpoint: Annotated[Path | None, typer.Option(
        "--from-checkpoint", help="A checkpoint file kept outside the ledger: the stored "
        "events must reproduce it.")] = None,
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", help="Verify an exported bundle instead; no database needed.")] = None,
    key: PublicKeyOption = None,
    all_checkpoints: Annotated[bool, typer.Option(
        "--all-checkpoints", help="Recompute every stored checkpoint's root, not only the "
        "latest's (slower with many checkpoints).")] = False,
    every_digest: Annotated[bool, typer.Option(
        "--every-digest", help="Walk in one process and compare every sealed digest row "
        "with its event, also under a checkpoint (slower on a large log): names a digest row "
        "changed alone, which changes no event and which the walk in parallel does not read "
        "under a checkpoint.")] = False,
) -> None:
    """Recompute every chain and checkpoint; exit 1 naming the first bad event."""
    try:
        if bundle is not None:
            _verify_bundle(bundle, key)
            return
        external = None if from_checkpoint is None else read_checkpoint_file(from_checkpoint)
        trusted = _trusted_key(key, external)
    except SealError as error:
        raise _refuse(error) from None
    with ledger() as app, progress_bar() as bar:
        task = bar.add_task("verifying", total=app.recorder.max_notification_id() or 0)
        report = verify_ledger(app, trusted_key=trusted, external=external,
                               progress=lambda n: bar.advance(task, n),
                               all_roots=all_checkpoints,
                               workers=1 if every_digest else None)
    answer({"verified": report.problem is None, "events": report.events,
            "streams": report.streams, "unsealed": report.unsealed,
            "sealed_position": report.sealed_position,
            "checkpoint": None if report.checkpoint is None else report.checkpoint.to_json(),
            "trusted_key_given": trusted is not None,
            "problem": None if report.problem is None else {
                "kind": report.problem.kind, "message": report.problem.message,
                "originator_id": None if report.problem.originator_id is None
                else str(report.problem.originator_id),
                "version": report.problem.version, "position": report.problem.position}})
    if report.problem is not None:
        p = report.problem
        err.print(f"[red]TAMPERED ({p.kind}):[/] {escape(p.message)}")
        if p.originator_id is not None:
            err.print(f"stream {p.originator_id} version {p.version} position {p.position}")
        raise typer.Exit(1)
    where = ("no checkpoint yet" if report.checkpoint is None else
             f"checkpoint at position {report.checkpoint.position:,} signed by "
             f"{report.checkpoint.public_key.hex()}")
    out.print(f"verified {report.events:,} events in {report.streams:,} streams; {where}")
    if trusted is None:
        out.print("[yellow]no trusted public key given: checkpoints were checked against "
                  "the keys they name[/]")
    if report.unsealed:
        out.print(f"[yellow]unsealed: {report.unsealed:,}[/] events written after the last "
                  "seal (run fundledger seal)")
    if report.checkpoint is None or report.checkpoint.position < report.sealed_position:
        out.print("[yellow]sealed events after the last checkpoint are protected by their "
                  "digests only[/]")


def _verify_bundle(path: Path, key: str | None) -> None:
    try:
        with path.open("rb") as file:
            report = verify_bundle(file, key)
    except OSError as error:
        raise _refuse(SealError(f"cannot read {path}: {error}")) from None
    except SealError as error:
        err.print(f"[red]TAMPERED:[/] {escape(str(error))}")
        answer({"verified": False, "bundle": str(path), "problem": str(error)})
        raise typer.Exit(1) from None
    answer({"verified": True, "bundle": str(path), "community_code": report.community,
            "events": report.events, "streams": report.streams,
            "checkpoint": report.checkpoint.to_json(), "trusted_key_given": key is not None})
    out.print(f"bundle {path}: community {report.community}, {report.events:,} events in "
              f"{report.streams:,} streams, checkpoint at position "
              f"{report.checkpoint.position:,} signed by {report.checkpoint.public_key.hex()}")
    if key is None:
        out.print("[yellow]no --public-key given: the signature was checked against the key "
                  "the bundle names[/]")


@cli.command()
def proof(
    originator_id: Annotated[str, typer.Argument(help="The stream (aggregate id).")],
    version: Annotated[int, typer.Argument(help="The event's version in its stream.")],
    out_file: Annotated[Path | None, typer.Option("--out")] = None,
) -> None:
    """A proof of one event (JSON) that projections.seal.proofs.verify_proof checks offline."""
    try:
        stream = UUID(originator_id)
    except ValueError:
        err.print(f"[red]not a stream id: {escape(originator_id)}[/]")
        raise typer.Exit(2) from None
    with ledger() as app:
        _seal_and_checkpoint(app)
        try:
            made: dict[str, Any] = prove_event(app, stream, version)
        except SealError as error:
            raise _refuse(error) from None
    text = json.dumps(made, indent=2, ensure_ascii=False)
    answer({"proof": made, "file": None if out_file is None else str(out_file)})
    if out_file is None:
        out.print_json(text)
    else:
        out_file.write_text(text + "\n", encoding="utf-8")
        out.print(f"proof written to {out_file}")


@cli.command()
def export(
    community_code: Annotated[str, typer.Argument(help="e.g. CY-0003")],
    out_file: Annotated[Path, typer.Option("--out", help="The bundle (JSON lines).")],
) -> None:
    """Seal, checkpoint, and write a community's whole history with its chains and checkpoint."""
    with ledger() as app:
        _seal_and_checkpoint(app)
        try:
            with out_file.open("wb") as file:
                exported = export_community(app, community_code, file)
        except SealError as error:
            out_file.unlink(missing_ok=True)
            raise _refuse(error) from None
    answer({"community_code": community_code, "events": exported.events,
            "streams": exported.streams, "checkpoint_position": exported.checkpoint.position,
            "file": str(out_file)})
    out.print(f"{community_code}: {exported.events:,} events in {exported.streams:,} streams, "
              f"up to position {exported.checkpoint.position:,}, written to {out_file}; check "
              f"it with: fundledger verify --bundle {out_file}")
