"""The `geo` command line: migrate, seed, serve, worker and data tools.

Each command checks that the servers it needs answer first, and exits non-zero with a one-line
reason when one does not.
"""

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from geo.core.config import InsecureSettings, Settings, check_secret, driver_url, get_settings

ROOT = Path(__file__).resolve().parent.parent


class Unreachable(Exception):
    pass


def check_postgres(settings: Settings) -> None:
    import psycopg

    try:
        url = driver_url(settings.database_url, "psycopg").replace(
            "postgresql+psycopg", "postgresql"
        )
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unreachable(f"PostgreSQL at DATABASE_URL is unreachable: {reason}") from exc


def check_redis(settings: Settings) -> None:
    import redis

    try:
        url = settings.redis_url.replace("redis+cluster://", "redis://")
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        raise Unreachable(f"Redis at REDIS_URL is unreachable: {exc}") from exc


def alembic_config(settings: Settings):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.database_url)
    return config


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from alembic import command

    check_postgres(settings)
    command.upgrade(alembic_config(settings), args.revision)
    print(f"migrated to {args.revision}")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from geo.places.seed import seed_places

    check_postgres(settings)
    seed_dir = Path(args.dir or settings.seed_dir)
    if not seed_dir.is_absolute():
        seed_dir = (Path.cwd() / seed_dir) if (Path.cwd() / seed_dir).exists() else ROOT / seed_dir
    report = seed_places(settings, seed_dir, progress=not args.quiet)
    print(report)
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    check_secret(settings)
    check_postgres(settings)
    check_redis(settings)
    uvicorn.run(
        "geo.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        access_log=args.access_log,
        # Forwarded headers are the app's call (GEO_TRUST_PROXY_HEADERS), never uvicorn's
        # default trust of 127.0.0.1, which would let a local client choose its address.
        proxy_headers=False,
    )
    return 0


def _run_with_servers(settings: Settings, job):  # type: ignore[no-untyped-def]
    """Run `job(db, redis)` on a fresh engine and Redis client, closing both afterwards."""
    import asyncio

    from geo.core.db import create_database
    from geo.core.redis import create_redis

    check_postgres(settings)
    check_redis(settings)

    async def run():  # type: ignore[no-untyped-def]
        db, redis = create_database(settings), create_redis(settings)
        try:
            return await job(db, redis)
        finally:
            await redis.aclose()
            await db.dispose()

    return asyncio.run(run())


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import gc

    from geo import maintenance
    from geo.ads.worker import run_forever as run_ads_ledger
    from geo.fanout.worker import run_forever
    from geo.reports import rollup

    check_secret(settings)  # the ads ledger writer verifies signed ids with it

    async def run_all(db, redis) -> None:  # type: ignore[no-untyped-def]
        await asyncio.gather(
            run_forever(db, redis),
            run_ads_ledger(db, redis),
            rollup.run_forever(db, poll_s=settings.report_rollup_poll_seconds),
            maintenance.run_forever(db, settings),
        )

    # What start-up made (modules, classes, settings) lives as long as the process: frozen out of
    # the cyclic collector's reach, full collections no longer walk it each time (about 8% of
    # the fan-out's CPU per delivery draining a backlog, bench/fanout_drain.py).
    gc.collect()
    gc.freeze()
    _run_with_servers(settings, run_all)
    return 0


def cmd_rebuild_feeds(args: argparse.Namespace, settings: Settings) -> int:
    from geo.fanout.service import rebuild_feeds

    async def rebuild(db, redis) -> int:  # type: ignore[no-untyped-def]
        async with db.sessionmaker() as session:
            return await rebuild_feeds(session, redis)

    print(f"rebuilt feeds from {_run_with_servers(settings, rebuild)} check-ins")
    return 0


def cmd_import_friends(args: argparse.Namespace, settings: Settings) -> int:
    from geo.social.graph_import import import_friend_graph

    check_postgres(settings)
    path = Path(args.path)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    print(
        import_friend_graph(
            settings,
            path,
            handle_prefix=args.handle_prefix,
            limit_edges=args.limit_edges,
            progress=not args.quiet,
        )
    )
    return 0


def cmd_operator_create(args: argparse.Namespace, settings: Settings) -> int:
    from geo.emergencies.operators import create_operator

    token = _run_with_servers(
        settings, lambda db, _redis: create_operator(db, args.handle, settings)
    )
    print(token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="geo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    migrate = sub.add_parser("migrate", help="upgrade the database schema (Alembic)")
    migrate.add_argument("revision", nargs="?", default="heads")
    migrate.set_defaults(handler=cmd_migrate)

    seed = sub.add_parser("seed", help="load seed_data/ (idempotent)")
    seed.add_argument("--dir", default=None)
    seed.add_argument("--quiet", action="store_true")
    seed.set_defaults(handler=cmd_seed)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--access-log", action="store_true")
    serve.set_defaults(handler=cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="run the outbox relay, fan-out consumers, the ads ledger writer and the report rollup",
    )
    worker.set_defaults(handler=cmd_worker)

    rebuild = sub.add_parser(
        "rebuild-feeds", help="rebuild Redis timelines from PostgreSQL (after Redis lost them)"
    )
    rebuild.set_defaults(handler=cmd_rebuild_feeds)

    graph = sub.add_parser(
        "import-friends", help="import a friendship edge list as accounts + mutual friendships"
    )
    graph.add_argument("path", nargs="?", default="seed_data/gowalla_social_liu2017.tsv")
    graph.add_argument("--handle-prefix", default="gw")
    graph.add_argument("--limit-edges", type=int, default=None)
    graph.add_argument("--quiet", action="store_true")
    graph.set_defaults(handler=cmd_import_friends)

    operator = sub.add_parser("operator", help="operator accounts (they declare emergencies)")
    operator_sub = operator.add_subparsers(dest="action", required=True)
    operator_create = operator_sub.add_parser("create", help="make one and print its token")
    operator_create.add_argument("handle")
    operator_create.set_defaults(handler=cmd_operator_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        return handler(args, settings)
    except (Unreachable, InsecureSettings) as exc:
        print(f"geo {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
