"""Rules of the architecture that import-linter cannot see (.importlinter holds the others)."""

import ast
import re
from pathlib import Path

GEO = Path(__file__).resolve().parents[1] / "geo"
OUTBOX_SQL = re.compile(r"\b(INTO|UPDATE|FROM)\s+outbox\b", re.IGNORECASE)


def test_only_the_outbox_package_writes_or_reads_outbox_rows() -> None:
    """Writers record events through geo.outbox (its events or its one-statement inserts), so
    the table's shape and topics are defined once."""
    offenders = [
        f"{path.relative_to(GEO.parent)}:{number}"
        for path in GEO.rglob("*.py")
        if "outbox" not in path.relative_to(GEO).parts[:1]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTBOX_SQL.search(line)
    ]
    assert offenders == []


# Functions that hand back dicts on purpose, each with its reason; everything else returns rows,
# dataclasses or pydantic models (a new raw dict needs a line here, or a type).
REPLAY = "an Idempotency-Key's first answer, as PostgreSQL kept it"
RAW_DICTS = {
    # Framework shapes: the OpenAPI document, problem members, a cookie, a form, SQL parameters,
    # a Redis stream entry.
    "geo/app.py:openapi": "the OpenAPI document",
    "geo/core/openapi.py:problems": "OpenAPI responses",
    "geo/core/openapi.py:problem_with": "an OpenAPI response",
    "geo/core/openapi.py:inline_schema": "a JSON Schema",
    "geo/core/openapi.py:add_problem_schemas": "the OpenAPI document",
    "geo/ads/schemas.py:state_min_radius": "the OpenAPI document",
    "geo/core/queries.py:query_openapi": "OpenAPI parameters",
    "geo/core/errors.py:_field_errors": "a problem's `errors` members",
    "geo/dashboard/session.py:read_cookie": "a signed cookie's payload",
    "geo/dashboard/buying.py:campaign_body": "the form as the API's body, for the schema",
    "geo/ads/service.py:_values": "SQL parameters",
    "geo/ads/service.py:_row_values": "SQL parameters",
    "geo/ads/repository.py:_params": "SQL parameters",
    "geo/places/repository.py:_nearby_filters": "SQL parameters",
    "geo/reports/repository.py:_hour": "SQL parameters",
    "geo/ads/worker.py:_row": "a Redis stream entry as ledger columns",
    # JSON handed back as PostgreSQL stored it.
    "geo/checkins/repository.py:stored_answer": REPLAY,
    "geo/checkins/service.py:claim_idempotency_or_replay": REPLAY,
    "geo/checkins/presence.py:claim_or_replay": REPLAY,
    # The check-in write's store and parsing (issue 13): replays, OpenAPI members, FastAPI errors.
    "geo/checkins/repository.py:stored_answer_of": REPLAY,
    "geo/checkins/ingest_repository.py:stored_answer": REPLAY,
    "geo/checkins/service.py:stored_answer": REPLAY,
    "geo/core/bodies.py:openapi": "an OpenAPI parameter",
    "geo/core/bodies.py:body_openapi": "OpenAPI operation members",
    "geo/core/bodies.py:add_body_schemas": "the OpenAPI document",
    "geo/core/queries.py:located": "FastAPI's validation error members",
    # Hot paths (home timelines, live streams): JSON-ready values dumped as they are.
    "geo/fanout/pages.py:visible_page": "timeline items of both kinds, merged by id",
    "geo/fanout/safety.py:render_home": "timeline items of both kinds, merged by id",
    "geo/fanout/safety.py:local_public": "stream items of both kinds, merged by id",
}
RAW_DICT = re.compile(r"\bdict\b(?!\[)|\bdict\[str, (Any|object)\]")


def test_functions_return_typed_values_not_raw_dicts() -> None:
    """Services and routes hand back rows, dataclasses or models; a dict is a stated exception."""
    found = set()
    for path in GEO.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.returns is not None
                and RAW_DICT.search(ast.unparse(node.returns))
            ):
                found.add(f"{path.relative_to(GEO.parent)}:{node.name}")
    assert sorted(found - RAW_DICTS.keys()) == [], "return a typed value, or say why not here"
    assert sorted(RAW_DICTS.keys() - found) == [], "no longer raw: drop it from RAW_DICTS"
