"""`smsrelay retention run [--dry-run]`: apply MESSAGE_RETENTION_DAYS now, as the scheduler does
each round, until nothing past it is left."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smsrelay.cli.common import console, fail, run_with_runtime

app = typer.Typer(help="Row retention: delete (and export) messages past MESSAGE_RETENTION_DAYS.",
                  no_args_is_help=True)


@app.command("run")
def retention_run(dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; change nothing")] = False
                  ) -> None:
    """Delete messages older than MESSAGE_RETENTION_DAYS, with their callbacks and events, in small
    batches (exported first to MESSAGE_EXPORT_DIR when it is set)."""
    from smsrelay.service.operations import row_retention
    from smsrelay.settings import get_settings

    settings = get_settings()
    if settings.message_retention_days is None:
        fail("MESSAGE_RETENTION_DAYS is not set: messages are kept forever, nothing to do", 2)

    async def go(rt: Any) -> row_retention.RetentionRun | None:
        if dry_run:
            return await row_retention.run_retention(rt, dry_run=True)
        cutoff = await row_retention.cutoff_for(rt, settings.message_retention_days)
        total = sum(n for _, n in await row_retention.expired(rt, cutoff))
        with Progress(TextColumn("deleting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("rows", total=total)
            return await row_retention.run_retention(rt, count_first=False,
                                                     on_batch=lambda n: bar.advance(task, n))

    run = run_with_runtime(go)
    assert run is not None
    cutoff = f"{run.cutoff:%Y-%m-%d %H:%M:%S %Z}"
    if dry_run:
        console.print(f"dry run: {run.expired:,} messages created before {cutoff} "
                      f"({settings.message_retention_days} days) would be deleted"
                      + (f", {run.kept:,} of them kept for now (still to be sent or their events undelivered)"
                         if run.kept else "")
                      + (f"; exported first to {settings.message_export_dir}" if settings.message_export_dir else ""),
                      markup=False)
        for day, rows in run.by_day:
            console.print(f"  {day}  {rows:,}", markup=False)
        return
    console.print(f"deleted {run.deleted:,} messages created before {cutoff}, with {run.callbacks:,} callbacks "
                  f"and {run.events:,} events" + (f" ({run.orphans:,} more of no message)" if run.orphans else "")
                  + (f"; exported to {len(run.files)} files in {settings.message_export_dir}"
                     if settings.message_export_dir else ""), markup=False)
