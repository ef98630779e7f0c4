"""What the report routes and the dashboard share: the parameters a request asks for (a FastAPI
dependency) and the CSV download. Kept out of `api.py` so no route module imports another."""

import csv
import io
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from starlette.responses import Response

from geo.core.types import rfc3339
from geo.reports import service
from geo.reports.schemas import Granularity, Report, SeriesPoint

CSV_COLUMNS = (
    "start",
    "end",
    "impressions",
    "reach",
    "frequency",
    "clicks",
    "ctr",
    "spend",
    "spend_milli_yen",
    "suppressed",
)


async def report_params(  # async: a plain `def` dependency runs in the thread pool
    request: Request,
    start: Annotated[
        datetime | None,
        Query(
            alias="from",
            description="RFC 3339; snapped down to the hour. Default: the campaign's start.",
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        Query(
            alias="to",
            description="RFC 3339; snapped up to the hour, cut at the last finished hour. "
            "Default: now.",
        ),
    ] = None,
    granularity: Granularity = "day",
) -> service.ReportParams:
    settings = request.app.state.settings
    return service.ReportParams(
        start=start,
        end=end,
        granularity=granularity,
        k=settings.report_k,
        attribution_days=settings.report_attribution_days,
        secret=settings.secret_key,
        epsilon=settings.report_epsilon,
        epsilon_per_day=settings.report_epsilon_per_day,
    )


def csv_response(campaign_id: str, report: Report) -> Response:
    """The report's series as a CSV download (the API route and the dashboard's)."""
    return Response(
        series_csv(report.series),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-report.csv"'
        },
    )


def series_csv(series: list[SeriesPoint]) -> str:
    """One row per series point; a withheld figure is an empty cell and `suppressed` is true."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for point in series:
        row = []
        for column in CSV_COLUMNS:
            value = getattr(point, column)
            if isinstance(value, datetime):
                value = rfc3339(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append("" if value is None else value)
        writer.writerow(row)
    return out.getvalue()
