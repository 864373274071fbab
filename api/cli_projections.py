"""``fundledger projections``: run, inspect, rebuild and checksum the read-side views."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli_common import answer, cli, err, invocation, ledger, out, progress_bar
from projections.runner import (
    BatchingProjection,
    Followers,
    ProjectionFailed,
    Runner,
    open_projection,
    rebuild,
    runners_lock,
    view_status,
)
from projections.view_locks import ViewBusy
from projections.views import VIEWS

projections_cli = typer.Typer(no_args_is_help=True,
                              help="The read-side views: run, status, rebuild, checksum.")
cli.add_typer(projections_cli, name="projections")

ViewArgument = Annotated[str, typer.Argument(help=f"One of: {', '.join(VIEWS)}.")]


def _view_class(name: str) -> type[BatchingProjection[Any]]:
    try:
        return VIEWS[name]
    except KeyError:
        err.print(f"[red]no view {escape(name)!r}[/]; the views are: {', '.join(VIEWS)}")
        raise typer.Exit(2) from None


def _answered() -> dict[str, Any]:
    current = invocation.get()
    return (current.answer or {}) if current is not None else {}


def _report_failure(error: ProjectionFailed | ViewBusy) -> None:
    if isinstance(error, ViewBusy):
        err.print(f"[red]{escape(str(error))}[/]")
        return
    last_line = error.failure.error.strip().splitlines()[-1:] or [""]
    err.print(f"[red]{escape(str(error))}[/]: {escape(last_line[0])}")


@projections_cli.command("run")
def run_views(
    follow: Annotated[bool, typer.Option(
        "--follow", help="After catching up, apply new events as they are written (Ctrl-C).")]
    = False,
) -> None:
    """Catch every view up with the log (and with --follow, keep following it)."""
    with ledger() as app:
        runner = Runner(app)
        projections = [open_projection(app, view_class) for view_class in VIEWS.values()]
        try:
            if follow:
                _follow(runner, projections)
                return
            for projection in projections:
                with runners_lock(projection):
                    read = runner.catch_up(projection)
                at = runner.position(projection)
                answer({"views": [*(_answered().get("views") or []), {
                    "view": projection.view.view_name, "applied": read, "position": at}]})
                out.print(f"{projection.view.view_name}: applied {read:,} events, at {at:,}")
        except (ProjectionFailed, ViewBusy) as error:
            _report_failure(error)
            raise typer.Exit(1) from None


def _follow(runner: Runner, projections: list[BatchingProjection[Any]]) -> None:
    followers = Followers(runner, projections).start()
    err.print(f"following {', '.join(p.view.view_name for p in projections)}; Ctrl-C stops")
    try:
        try:
            while followers.alive():
                followers.join(timeout_s=0.5)  # short joins keep ^C responsive
        except KeyboardInterrupt:
            pass
        followers.stop()
    except (ProjectionFailed, ViewBusy) as error:
        _report_failure(error)
        raise typer.Exit(1) from None


@projections_cli.command()
def status() -> None:
    """Each view's position, the log's last position, the lag, and any recorded failure."""
    with ledger() as app:
        runner = Runner(app)
        table = Table("view", "position", "log", "lag", "failure")
        states = []
        for view_class in VIEWS.values():
            state = view_status(runner, open_projection(app, view_class))
            states.append({
                "view": state.view_name, "position": state.position,
                "log_position": state.log_position, "lag": state.lag,
                "failure": None if state.failure is None else {
                    "position": state.failure.notification_id, "topic": state.failure.topic,
                    "error": (state.failure.error.strip().splitlines()[-1:] or [""])[0]}})
            failure = ("-" if state.failure is None else
                       f"at {state.failure.notification_id} ({state.failure.topic}): "
                       + (state.failure.error.strip().splitlines()[-1:] or [""])[0])
            table.add_row(state.view_name, f"{state.position:,}", f"{state.log_position:,}",
                          f"{state.lag:,}", escape(failure))
        answer({"views": states})
        out.print(table)


@projections_cli.command("rebuild")
def rebuild_view(view: ViewArgument) -> None:
    """Drop a view's tables and tracking and rebuild it from event one.

    Refused while a runner follows or catches up the view (stop it first); runners started
    during the rebuild are refused until it has finished.
    """
    view_class = _view_class(view)
    with ledger() as app:
        runner = Runner(app)
        projection = open_projection(app, view_class)
        total = runner.log_position()
        with progress_bar() as bar:
            task = bar.add_task(f"rebuilding {view}", total=total)
            try:
                read = rebuild(runner, projection,
                               progress=lambda n: bar.advance(task, n))
            except (ProjectionFailed, ViewBusy) as error:
                _report_failure(error)
                raise typer.Exit(1) from None
        digest = projection.view.checksum()
        answer({"view": view, "events": read, "checksum": digest})
        out.print(f"{view}: rebuilt from {read:,} events; checksum {digest}")


@projections_cli.command()
def checksum(view: ViewArgument) -> None:
    """A digest of every row of a view: equal digests, identical views."""
    view_class = _view_class(view)
    with ledger() as app:
        projection = open_projection(app, view_class)
        at, digest = Runner(app).position(projection), projection.view.checksum()
    answer({"view": view, "position": at, "checksum": digest})
    out.print(f"{view} at {at:,}: {digest}")
