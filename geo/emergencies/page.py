"""The public page of an emergency, for responders without an account: the area on an SVG map
and how many people reported each status. Server-rendered, no JavaScript.

Counts are people by their latest status; a count under the k-floor (`GEO_REPORT_K`) is shown as
"fewer than k", so a page never singles anyone out. Not part of the JSON API (no OpenAPI entry).
"""

import html
import math

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from geo.core.db import SessionDep
from geo.core.ids import IdPath, parse_id
from geo.core.types import StoredNumber, StoredPolygon, rfc3339
from geo.emergencies import safety, service
from geo.emergencies.schemas import EmergencyRead

public_router = APIRouter(include_in_schema=False)
WIDTH, HEIGHT, MARGIN = 480, 360, 20
LABELS = {"need_help": "Need help", "safe": "Safe"}


def svg_map(area: StoredPolygon) -> str:
    """The polygon, scaled to fit (equirectangular, x shrunk by cos(latitude))."""
    rings = area.coordinates
    lons = [p[0] for p in rings[0]]
    lats = [p[1] for p in rings[0]]
    shrink = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lons) - min(lons)) * shrink, 1e-9)
    span_y = max(max(lats) - min(lats), 1e-9)
    scale = min((WIDTH - 2 * MARGIN) / span_x, (HEIGHT - 2 * MARGIN) / span_y)

    def point(p: list[StoredNumber]) -> str:
        x = MARGIN + (p[0] - min(lons)) * shrink * scale
        y = HEIGHT - MARGIN - (p[1] - min(lats)) * scale
        return f"{x:.1f},{y:.1f}"

    path = " ".join("M" + " L".join(point(p) for p in ring) + " Z" for ring in rings)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="Emergency area">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#eef3f7"/>'
        f'<path id="area" d="{path}" fill="#d9534f" fill-opacity="0.35" stroke="#a94442" '
        'stroke-width="2" fill-rule="evenodd"/></svg>'
    )


def floored(count: int, k: int) -> str:
    return str(count) if count >= k else f"fewer than {k}"


def render_page(emergency: EmergencyRead, counts: dict[str, int], k: int) -> str:
    name = html.escape(emergency.name)
    rows = "".join(
        f'<tr><th scope="row">{label}</th>'
        f'<td data-status="{status}">{floored(counts.get(status, 0), k)}</td></tr>'
        for status, label in LABELS.items()
    )
    starts = rfc3339(emergency.starts_at)
    ends = rfc3339(emergency.ends_at) if emergency.ends_at else "not set"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}: emergency</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 1rem auto">
<h1>{name}</h1>
<p>Status: <strong id="status">{emergency.status}</strong>.
Since {starts}; end: {ends}.</p>
{svg_map(emergency.area)}
<h2>Safety reports</h2>
<table id="counts"><tbody>{rows}</tbody></table>
<p><small>People by their latest report. Counts under {k} are not shown.</small></p>
</body></html>"""


@public_router.get("/emergencies/{emergency_id}")
async def emergency_page(request: Request, emergency_id: IdPath, session: SessionDep) -> Response:
    row = await service.get_row(session, parse_id(emergency_id))
    counts = await safety.status_counts(session, row.id)
    body = render_page(service.emergency_read(row), counts, request.app.state.settings.report_k)
    return HTMLResponse(body)
