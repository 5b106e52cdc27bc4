"""The `skinstack` command: serve, worker, db upgrade|downgrade, admin create."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from skinstack import migrations
from skinstack.config import get_settings
from skinstack.db import (
    EmbeddedDatabaseError,
    create_engine,
    create_sessionmaker,
    resolve_database_url,
)
from skinstack.logs import configure_logging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from skinstack.models import Merchant

cli = typer.Typer(help="SkinStack: affiliate platform for influencer skincare marketing.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database migrations.", no_args_is_help=True)
admin_cli = typer.Typer(help="Administrators.", no_args_is_help=True)
products_cli = typer.Typer(help="Product catalog.", no_args_is_help=True)
imports_cli = typer.Typer(help="Conversion reports from networks.", no_args_is_help=True)
attribution_cli = typer.Typer(help="Attribution of conversions.", no_args_is_help=True)
payouts_cli = typer.Typer(help="Payout batches.", no_args_is_help=True)
analytics_cli = typer.Typer(help="Analytics rollups.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(admin_cli, name="admin")
cli.add_typer(products_cli, name="products")
cli.add_typer(imports_cli, name="imports")
cli.add_typer(attribution_cli, name="attribution")
cli.add_typer(payouts_cli, name="payouts")
cli.add_typer(analytics_cli, name="analytics")
console = Console(stderr=True)


def _database_url() -> str:
    settings = get_settings()
    configure_logging(settings.log_level)
    if not settings.database_url:
        console.print(f"[dim]Embedded PostgreSQL in {settings.data_dir / 'pgdata'}[/dim]")
    try:
        return resolve_database_url(settings)
    except EmbeddedDatabaseError as exc:
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker",
                                            help="Do not run the background worker here.")] = False,
    demo: Annotated[bool | None, typer.Option(
        "--demo/--no-demo",
        help="Add the demo data once (default: only on the embedded database).")] = None,
) -> None:
    """Applies migrations, then runs the HTTP service (and the worker, unless --no-worker)."""
    import uvicorn

    from skinstack.app import asgi, create_app
    from skinstack.redirect.lane import server_protocol

    url = _database_url()
    migrations.upgrade(url)
    if demo if demo is not None else not get_settings().database_url:
        _seed_demo(url)
    settings = get_settings()
    app = create_app(settings, run_worker_in_process=not no_worker, database_url=url)
    console.print(f"SkinStack on http://{host}:{port}  (API docs: /docs, /openapi.json)")
    # proxy_headers=False: TRUSTED_PROXIES is applied by asgi(app) and the fast lane alike.
    uvicorn.run(asgi(app), host=host, port=port, loop="uvloop",
                http=server_protocol(settings, app.state.redirect, app.state.trusted_proxies),
                log_config=None, access_log=False, server_header=False, proxy_headers=False)


@cli.command()
def worker() -> None:
    """Runs only the background worker (for scale-out)."""
    from skinstack.worker.queue import connected, run_worker

    url = _database_url()

    async def main() -> None:
        job_app = connected(url)
        engine = create_engine(url)
        try:
            async with job_app.open_async():
                await run_worker(job_app, sessionmaker=create_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Upgrades the schema to REVISION (default: head)."""
    migrations.upgrade(_database_url(), revision)
    console.print(f"Database at {revision}.")


@db_cli.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target, e.g. -1 or base.")]) -> None:
    """Downgrades the schema to REVISION."""
    migrations.downgrade(_database_url(), revision)
    console.print(f"Database at {revision}.")


@admin_cli.command("create")
def admin_create(
    email: Annotated[str, typer.Option(help="The admin's email.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True,
                                          help="At least 10 characters (prompted if left out).")],
) -> None:
    """Creates an admin user, or re-activates one and sets its password."""
    from skinstack.accounts.schemas import MIN_PASSWORD
    from skinstack.accounts.service import create_admin
    from skinstack.errors import AppError

    if len(password) < MIN_PASSWORD:
        console.print(f"[red]The password needs at least {MIN_PASSWORD} characters.[/red]")
        raise typer.Exit(2)
    url = _database_url()
    migrations.upgrade(url)

    async def main() -> tuple[str, bool]:
        async with _sessions(url) as sessions, sessions() as session, session.begin():
            user, created = await create_admin(session=session, email=email, password=password)
            return str(user.id), created

    try:
        user_id, created = asyncio.run(main())
    except (AppError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Admin {'created' if created else 're-activated'}: {user_id}")


T = TypeVar("T")


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Runs a command's work; a business error is printed in red and exits 1."""
    from skinstack.errors import AppError

    try:
        return asyncio.run(work)
    except AppError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None


@asynccontextmanager
async def _sessions(url: str, *, pool_size: int = 1
                    ) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on an engine of the command's own, disposed when the command is done."""
    engine = create_engine(url, pool_size=pool_size)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def _as_system(session: AsyncSession) -> None:
    """A command's audit entries are the system's: no user is logged in."""
    from skinstack.compliance import audit

    audit.set_actor(session.sync_session, audit.Actor(user_id=None, role=audit.SYSTEM))


async def _merchant_by_email(session: AsyncSession, email: str) -> Merchant:
    """The merchant profile of the account with `email`, for commands' --merchant option."""
    from skinstack.accounts import repository as accounts_repository
    from skinstack.accounts.schemas import normalise_email

    user = await accounts_repository.get_user_by_email(session=session,
                                                       email=normalise_email(email))
    profile = user and await accounts_repository.get_merchant_for_user(session=session,
                                                                       user_id=user.id)
    if not profile:
        raise typer.BadParameter(f"no merchant profile for {email}", param_hint="--merchant")
    return profile


@products_cli.command("import")
def products_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="A CSV file or Shopify products.json.")],
    merchant: Annotated[str, typer.Option(help="The merchant account's email.")],
    format: Annotated[str | None, typer.Option(
        help="csv or shopify (default: from the file name or content).")] = None,
) -> None:
    """Imports products for a merchant: good rows land, every bad row is listed."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from skinstack.catalog.importer import detect_format, import_products

    if format not in (None, "csv", "shopify"):
        console.print("[red]--format is csv or shopify.[/red]")
        raise typer.Exit(2)
    url = _database_url()
    migrations.upgrade(url)
    size = file.stat().st_size

    async def main() -> object:
        async with _sessions(url) as sessions, sessions() as session, session.begin():
            _as_system(session)
            profile = await _merchant_by_email(session, merchant)
            with file.open("rb") as stream, Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TimeRemainingColumn(), console=console,
            ) as bar:
                task = bar.add_task(f"Importing {file.name}", total=size)
                kind = format or detect_format(stream.read(64), filename=file.name)
                stream.seek(0)
                report = await import_products(
                    session=session, merchant=profile, stream=stream, format=kind,
                    progress=lambda done: bar.update(task, completed=done))
                bar.update(task, completed=size)
            return report

    report = _run(main())
    console.print(f"created {report.created}, updated {report.updated}, "
                  f"unchanged {report.unchanged}, errors {len(report.errors)}")
    for error in report.errors[:50]:
        console.print(f"  row {error.row}: {error.error}")
    if len(report.errors) > 50:
        console.print(f"  … and {len(report.errors) - 50} more")
    if report.errors:
        raise typer.Exit(3)


@imports_cli.command("amazon")
def imports_amazon(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="An Amazon Associates earnings report (CSV).")],
    merchant: Annotated[str, typer.Option(help="The merchant account's email.")],
) -> None:
    """Imports an Amazon Associates earnings report for a merchant: stored in the inbox like
    any webhook, then processed here. The same report again changes nothing."""
    from skinstack.models import EventStatus
    from skinstack.webhooks.service import accept_amazon_report
    from skinstack.webhooks.tasks import run_event

    url = _database_url()
    migrations.upgrade(url)

    async def main() -> tuple[object, object, str]:
        async with _sessions(url) as sessions:
            async with sessions() as session, session.begin():
                profile = await _merchant_by_email(session, merchant)
                accepted, parsed = await accept_amazon_report(
                    session=session, merchant_id=profile.id, body=file.read_bytes(),
                    filename=file.name)
            outcome = "duplicate"
            if accepted.event_id is not None:
                outcome = await run_event(sessions, accepted.event_id)
            return accepted, parsed, outcome

    accepted, parsed, outcome = _run(main())
    if outcome == "duplicate":
        console.print("This report was imported before; nothing changed.")
        return
    if outcome != EventStatus.handled:
        console.print(f"[red]The report was stored (event {accepted.event_id}) but could not "
                      f"be processed ({outcome}); see GET /api/v1/admin/webhook-events.[/red]")
        raise typer.Exit(1)
    console.print(f"Imported {len(parsed.orders)} orders and {len(parsed.adjustments)} returns "
                  f"(event {accepted.event_id}).")


def _seed_demo(url: str) -> None:
    from skinstack.demo import DEMO_PASSWORD, seed

    async def main() -> object:
        async with _sessions(url) as sessions, sessions() as session, session.begin():
            _as_system(session)
            return await seed(session)

    seeded = asyncio.run(main())
    console.print(f"Demo data {'added' if seeded.created else 'already there'}; log in as "
                  f"{', '.join(seeded.emails)} with the password {DEMO_PASSWORD!r} "
                  "(admins: skinstack admin create).")


@attribution_cli.command("rerun")
def attribution_rerun(
    program: Annotated[str | None, typer.Option(help="Only this program's conversions (id).")
                       ] = None,
    merchant: Annotated[str | None, typer.Option(
        help="Only this merchant's conversions (the account's email).")] = None,
    from_date: Annotated[datetime | None, typer.Option(
        "--from", help="Conversions from this date or time (UTC unless it says).")] = None,
    to_date: Annotated[datetime | None, typer.Option(
        "--to", help="Conversions before this date or time.")] = None,
    batch: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Attributes conversions again under their programs' current settings. Idempotent: an
    unchanged result writes nothing; a changed one supersedes the old credits."""
    import uuid

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from skinstack.attribution import repository, service
    from skinstack.compliance import audit

    try:
        program_id = uuid.UUID(program) if program else None
    except ValueError:
        raise typer.BadParameter("not a program id", param_hint="--program") from None
    since, until = (_utc(value) for value in (from_date, to_date))
    if since and until and since >= until:
        raise typer.BadParameter("--from must be before --to", param_hint="--from")
    url = _database_url()
    migrations.upgrade(url)

    async def main() -> service.Rerun:
        async with _sessions(url, pool_size=2) as sessions:
            async with sessions() as session:
                merchant_id = (await _merchant_by_email(session, merchant)).id if merchant else None
                scope = repository.Range(program_id=program_id, merchant_id=merchant_id,
                                         since=since, until=until)
                total = await repository.count_in_range(session, scope)
            with Progress("[progress.description]{task.description}", BarColumn(),
                          MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("Attributing", total=total)
                summary = await service.rerun(
                    sessions, scope, batch=batch,
                    progress=lambda done: bar.advance(task, done))
            async with sessions() as session, session.begin():
                _as_system(session)
                audit.record(session.sync_session, action="attribution.rerun",
                             resource_type="conversions", resource_id=program_id,
                             changes={"merchant_id": merchant_id, "from": since, "to": until,
                                      "conversions": summary.conversions,
                                      "changed": summary.changed})
            return summary

    summary = asyncio.run(main())
    console.print(f"{summary.conversions} conversions: {summary.attributed} attributed, "
                  f"{summary.unattributed} not attributed, {summary.waiting} waiting for their "
                  f"click; {summary.changed} changed.")


@analytics_cli.command("rebuild")
def analytics_rebuild(
    from_date: Annotated[datetime | None, typer.Option(
        "--from", help="From this date or time (UTC unless it says).")] = None,
    to_date: Annotated[datetime | None, typer.Option(
        "--to", help="Before this date or time.")] = None,
) -> None:
    """Recomputes the analytics rollups from the base tables (all of them without --from and
    --to), a day at a time; the result equals what the worker maintains incrementally."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from skinstack.analytics import service

    since, until = (_utc(value) for value in (from_date, to_date))
    if since and until and since >= until:
        raise typer.BadParameter("--from must be before --to", param_hint="--from")
    url = _database_url()
    migrations.upgrade(url)

    async def main() -> int:
        async with _sessions(url) as sessions:
            with Progress("[progress.description]{task.description}", BarColumn(),
                          MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("Days", total=None)
                return await service.rebuild(
                    sessions, since=since, until=until,
                    progress=lambda done, total: bar.update(task, completed=done, total=total))

    days = asyncio.run(main())
    console.print(f"Rebuilt {days} day(s) of analytics.")


@payouts_cli.command("run")
def payouts_run(
    period: Annotated[str, typer.Option(help="The month to pay, YYYY-MM (UTC).")],
    dry_run: Annotated[bool, typer.Option(help="Show the figures; write nothing.")] = False,
) -> None:
    """Makes the period's payout batch: every influencer whose unsettled balance reaches the
    minimum and whose payout details are complete; a summary table, and what rolls over."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from skinstack.commissions.service import month_bounds
    from skinstack.compliance import audit
    from skinstack.config import get_settings
    from skinstack.errors import AppError
    from skinstack.kit.money import format_minor
    from skinstack.payouts import service

    try:
        start, end = (moment.date() for moment in month_bounds(period))
    except AppError:
        raise typer.BadParameter("YYYY-MM, e.g. 2026-11", param_hint="--period") from None
    end = end - timedelta(days=1)
    url = _database_url()
    migrations.upgrade(url)

    async def main() -> tuple[object, service.BatchPlan]:
        async with _sessions(url) as sessions, sessions() as session:
            _as_system(session)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=console) as bar:
                task = bar.add_task("Making the batch", total=len(service.STAGES))

                def stage(name: str) -> None:
                    bar.update(task, advance=1, description=name)

                batch, plan = await service.create_batch(
                    session, period_start=start, period_end=end, settings=get_settings(),
                    by=None, dry_run=dry_run, progress=stage)
            if batch is not None:
                audit.record(session.sync_session, action="payout_batch.create",
                             resource_type="payout_batches", resource_id=batch.id,
                             changes={"period": [str(start), str(end)],
                                      "payouts": len(plan.payouts)})
                await session.commit()
            return batch, plan

    batch, plan = _run(main())
    table = Table(title=f"Payouts {start} to {end}" + (" (dry run: nothing written)"
                                                        if dry_run else ""))
    for column in ("currency", "method", "payouts", "gross", "processing fees", "net"):
        table.add_column(column, justify="right" if column not in ("currency", "method")
                         else "left")
    groups: dict[tuple[str, str], list] = {}
    for payout in plan.payouts:
        groups.setdefault((payout.currency, payout.method), []).append(payout)
    for (currency, method), payouts in sorted(groups.items()):
        table.add_row(currency, method, str(len(payouts)),
                      format_minor(sum(p.gross for p in payouts), currency),
                      format_minor(sum(p.processing_fees for p in payouts), currency),
                      format_minor(sum(p.net for p in payouts), currency))
    console.print(table)
    waiting: dict[str, int] = {}
    for held in plan.rolled_over:
        for reason in held.waiting_for:
            waiting[reason] = waiting.get(reason, 0) + 1
    if waiting:
        console.print("Rolled over: " + ", ".join(f"{count} waiting for {reason}"
                                                  for reason, count in sorted(waiting.items())))
    if batch is not None:
        console.print(f"Batch {batch.id}: send it with `skinstack payouts send {batch.id}`.")


@payouts_cli.command("send")
def payouts_send(
    batch: Annotated[str, typer.Argument(help="The batch's id.")],
    concurrency: Annotated[int, typer.Option(min=1, max=256)] = 16,
) -> None:
    """Sends the batch's payouts not sent yet. Safe to repeat, also after a crash: a payout is
    never sent twice."""
    import uuid

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from skinstack.compliance import audit
    from skinstack.config import get_settings
    from skinstack.payouts import repository, sender

    try:
        batch_id = uuid.UUID(batch)
    except ValueError:
        raise typer.BadParameter("not a batch id", param_hint="BATCH") from None
    url = _database_url()
    migrations.upgrade(url)

    async def main() -> sender.SendReport:
        async with _sessions(url, pool_size=min(concurrency, 20) + 1) as sessions:
            async with sessions() as session:
                found = await repository.get_batch(session, batch_id)
                if found is None:
                    raise typer.BadParameter("no such batch", param_hint="BATCH")
                total = sum((await repository.count_open(session, batch_id)).values())
            with Progress("[progress.description]{task.description}", BarColumn(),
                          MofNCompleteColumn(), TimeRemainingColumn(), console=console) as bar:
                task = bar.add_task("Sending", total=total)
                async with sender.Providers.from_settings(get_settings()) as providers:
                    report = await sender.send_batch(
                        sessions, batch_id, providers=providers, concurrency=concurrency,
                        progress=lambda done: bar.advance(task, done))
            async with sessions() as session, session.begin():
                _as_system(session)
                audit.record(session.sync_session, action="payout_batch.send",
                             resource_type="payout_batches", resource_id=batch_id,
                             changes={"results": dict(report.counts)})
            return report

    report = _run(main())
    console.print(", ".join(f"{count} {result}" for result, count in sorted(report.counts.items()))
                  or "Nothing to send.")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def main() -> None:
    cli()
