"""Report routes: a campaign's figures as JSON and its series as CSV (owner only)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from geo.accounts.auth import CurrentActor, current_actor
from geo.core.db import SessionDep
from geo.core.ids import IdPath, parse_id
from geo.core.openapi import problems
from geo.reports import service
from geo.reports.schemas import Report
from geo.reports.web import csv_response, report_params

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(current_actor)])

ParamsDep = Annotated[service.ReportParams, Depends(report_params)]


@router.get(
    "/campaigns/{campaign_id}/report", response_model=Report, responses=problems(401, 404, 429)
)
async def read_report(
    campaign_id: IdPath, params: ParamsDep, actor: CurrentActor, session: SessionDep
) -> Report:
    return await service.build_report(
        session, actor=actor, campaign_id=parse_id(campaign_id), params=params
    )


@router.get(
    "/campaigns/{campaign_id}/report.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problems(401, 404, 429),
    },
)
async def read_report_csv(
    campaign_id: IdPath, params: ParamsDep, actor: CurrentActor, session: SessionDep
) -> Response:
    report = await service.build_report(
        session, actor=actor, campaign_id=parse_id(campaign_id), params=params
    )
    return csv_response(campaign_id, report)
