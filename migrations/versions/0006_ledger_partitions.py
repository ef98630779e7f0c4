"""Ledgers and the outbox partitioned by day (native range partitioning on their time-ordered ids).

Revision ID: 0006_ledger
Revises: 0005

`ad_impressions`, `ad_holdouts`, `ad_clicks` and `outbox` become range-partitioned by id. Their ids
are snowflakes (milliseconds in the high bits), so one day is one id range, the primary keys stay
the ids, and the writers' `ON CONFLICT (id)` (idempotent ledger writes, clicks counted once) keep
working: partitioning on a timestamp column would have to add it to every unique key. The outbox
id becomes a snowflake too (`geo_next_id()`, was an identity; PostgreSQL 15 has no identity on a
partitioned table).

Existing rows are not copied: each old table is attached as the `<table>_history` partition
(everything before tomorrow, UTC), followed by daily partitions and a default one. The worker's
maintenance (geo/core/partitions.py) keeps partitions made ahead and drops old ones under each
domain's retention rule.
"""

from alembic import op

revision = "0006_ledger"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, id column, report trigger or None)
TABLES = [
    ("ad_impressions", "id", "report_mark_impressions"),
    ("ad_holdouts", "id", "report_mark_holdouts"),
    ("ad_clicks", "impression_id", "report_mark_clicks"),
    ("outbox", "id", None),
]

ID_FLOOR = """
CREATE FUNCTION geo_id_floor(at timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
    SELECT (floor(extract(epoch FROM at) * 1000)::bigint - 1288834974657) << 22
$$;
"""


def _partition(table: str, column: str, trigger: str | None) -> str:
    old = f"{table}_history"
    steps = [
        f"ALTER TABLE {table} RENAME TO {old}",
        f"ALTER INDEX pk_{table} RENAME TO pk_{old}",
    ]
    if table == "outbox":
        steps.append("ALTER TABLE outbox_history ALTER COLUMN id DROP IDENTITY")
    if trigger:
        steps.append(f"DROP TRIGGER {trigger} ON {old}")
    steps += [
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})",
        f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({column})",
        # Tomorrow 00:00 UTC: every existing row (and today's) stays in the history partition.
        f"""ALTER TABLE {table} ATTACH PARTITION {old} FOR VALUES FROM (MINVALUE)
            TO (geo_id_floor(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day'))""",
        f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT",
    ]
    if trigger:
        steps.append(
            f"CREATE TRIGGER {trigger} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {trigger}()"
        )
    return ";\n".join(steps)


def upgrade() -> None:
    op.execute(ID_FLOOR)
    for table, column, trigger in TABLES:
        # Secondary indexes are made again on the parent under their own names; PostgreSQL
        # adopts the old table's equal index for its partition instead of building another.
        indexes = (
            op.get_bind()
            .exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                " AND tablename = %(t)s AND indexname <> %(pk)s",
                {"t": table, "pk": f"pk_{table}"},
            )
            .all()
        )
        # The id sequence belongs to the parent now, so the history partition can be dropped.
        sequence = (
            op.get_bind()
            .exec_driver_sql(
                "SELECT pg_get_serial_sequence(%(t)s, %(c)s)", {"t": table, "c": column}
            )
            .scalar()
        )
        for name, _ in indexes:
            op.execute(f"ALTER INDEX {name} RENAME TO {name}_history")
        op.execute(_partition(table, column, trigger))
        if sequence and table != "outbox":  # the outbox's identity sequence went with DROP IDENTITY
            op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.{column}")
        for _, definition in indexes:
            op.execute(definition)
    op.execute("ALTER TABLE outbox ALTER COLUMN id SET DEFAULT geo_next_id()")


def downgrade() -> None:
    bind = op.get_bind()
    for table, column, trigger in reversed(TABLES):
        indexes = bind.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %(t)s"
            " AND indexname <> %(pk)s",
            {"t": table, "pk": f"pk_{table}"},
        ).scalars()
        definitions = [d.replace(" ON ONLY ", " ON ") for d in indexes]
        sequence = bind.exec_driver_sql(
            "SELECT pg_get_serial_sequence(%(t)s, %(c)s)", {"t": table, "c": column}
        ).scalar()
        op.execute(f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {table}_plain SELECT * FROM {table}")
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}_plain.{column}")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({column})")
        for definition in definitions:
            op.execute(definition)
        if trigger:
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER INSERT ON {table} REFERENCING NEW TABLE AS"
                f" new_rows FOR EACH STATEMENT EXECUTE FUNCTION {trigger}()"
            )
    op.execute("ALTER TABLE outbox ALTER COLUMN id DROP DEFAULT")
    op.execute("ALTER TABLE outbox ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY")
    op.execute(
        "SELECT setval(pg_get_serial_sequence('outbox', 'id'),"
        " GREATEST((SELECT max(id) FROM outbox), 1))"
    )
    op.execute("DROP FUNCTION geo_id_floor(timestamptz)")
