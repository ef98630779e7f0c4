"""SVG drawn on the server: series bars, distance bars and an H3 hexagon picture. No JS."""

import math
from datetime import datetime

import h3
from markupsafe import Markup, escape

from geo.core.geodesy import haversine_m, local_offset_m
from geo.reports.schemas import SeriesPoint

PALETTE = ("#dbeafe", "#93c5fd", "#60a5fa", "#2563eb", "#1e3a8a")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


def series_chart(
    points: list[SeriesPoint],
    field: str,
    *,
    title: str,
    width: int = 720,
    height: int = 200,
    colour: str = "#2563eb",
) -> Markup:
    """Bars of one figure per series point; a withheld point is a hatched grey bar."""
    pad_l, pad_b, pad_t = 48, 28, 24
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    values = [getattr(p, field) for p in points]
    top = max([v for v in values if v is not None] or [1]) or 1
    step = inner_w / max(1, len(points))
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} '
        f'{height}" width="100%"><title>{escape(title)}</title>',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9ca3af" stroke-width="2"/>'
        "</pattern></defs>",
        f'<text x="{pad_l}" y="16" class="chart-title">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" y2="{pad_t + inner_h}" '
        'stroke="#9ca3af"/>',
        f'<text x="{pad_l - 6}" y="{pad_t + 4}" text-anchor="end" class="axis">{_fmt(top)}</text>',
        f'<text x="{pad_l - 6}" y="{pad_t + inner_h}" text-anchor="end" class="axis">0</text>',
    ]
    for i, (point, value) in enumerate(zip(points, values, strict=True)):
        x = pad_l + i * step + step * 0.1
        w = max(1.0, step * 0.8)
        label = _label(point.start)
        if value is None:
            parts.append(
                f'<rect x="{x:.1f}" y="{pad_t}" width="{w:.1f}" height="{inner_h}" '
                f'fill="url(#hatch)" class="withheld"><title>{label}: withheld '
                "(fewer than k accounts)</title></rect>"
            )
            continue
        h = inner_h * value / top
        parts.append(
            f'<rect x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{label}: {_fmt(value)}</title>'
            "</rect>"
        )
    for i in _tick_indexes(len(points), most=max(2, width // 95)):
        x = pad_l + i * step + step / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="axis">'
            f"{_label(points[i].start)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _tick_indexes(n: int, *, most: int) -> list[int]:
    """Which points get a date label: at most `most`, so labels never overlap."""
    if n <= most:
        return list(range(n))
    stride = math.ceil(n / most)
    return list(range(0, n, stride))


def _label(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M") if moment.hour else moment.strftime("%m-%d")


def hex_map(
    cells: list[tuple[int, int]], *, lat: float, lon: float, radius_m: int | None, size: int = 360
) -> Markup:
    """H3 cells (intensity class 1..5) around the place, drawn to scale; no map tiles."""
    reach_m = max(
        [radius_m or 500]
        + [haversine_m(lat, lon, *h3.cell_to_latlng(h3.int_to_str(c))) + 200 for c, _ in cells]
    )
    scale = (size / 2 - 10) / reach_m  # pixels per metre

    def xy(p_lat: float, p_lon: float) -> tuple[float, float]:
        dx, dy = local_offset_m(lat, lon, p_lat, p_lon)
        return size / 2 + dx * scale, size / 2 - dy * scale

    parts = [
        f'<svg class="hexmap" role="img" aria-label="Where impressions happened" '
        f'viewBox="0 0 {size} {size}" width="{size}" height="{size}">'
        f'<rect width="{size}" height="{size}" fill="#f8fafc"/>'
    ]
    for cell, level in cells:
        ring = " ".join(
            "{:.1f},{:.1f}".format(*xy(a, b)) for a, b in h3.cell_to_boundary(h3.int_to_str(cell))
        )
        parts.append(
            f'<polygon class="hex" points="{ring}" fill="{PALETTE[level - 1]}" '
            f'stroke="#ffffff" stroke-width="1"><title>intensity {level} of 5</title>'
            "</polygon>"
        )
    if radius_m:
        parts.append(
            f'<circle cx="{size / 2}" cy="{size / 2}" r="{radius_m * scale:.1f}" '
            'fill="none" stroke="#f97316" stroke-dasharray="6 4" stroke-width="2"/>'
        )
    parts.append(
        f'<circle cx="{size / 2}" cy="{size / 2}" r="6" fill="#dc2626" stroke="#fff" '
        'stroke-width="2"><title>your place</title></circle>'
    )
    parts.append(f'<text x="8" y="{size - 8}" class="axis">{int(reach_m)} m to the edge</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def radius_preview(
    *, radius_m: int, lat: float | None = None, lon: float | None = None, size: int = 240
) -> Markup:
    """The area a radius covers, to scale; around a known place, the H3 cells it reaches."""
    scale = (size / 2 - 12) / max(radius_m, 50)
    parts = [
        f'<svg class="preview" role="img" aria-label="Area covered" viewBox="0 0 {size} '
        f'{size}" width="{size}" height="{size}"><rect width="{size}" height="{size}" '
        'fill="#f8fafc"/>'
    ]
    if lat is not None and lon is not None:
        for cell in covered_cells(lat, lon, radius_m):
            offsets = [local_offset_m(lat, lon, a, b) for a, b in h3.cell_to_boundary(cell)]
            ring = " ".join(
                f"{size / 2 + dx * scale:.1f},{size / 2 - dy * scale:.1f}" for dx, dy in offsets
            )
            parts.append(
                f'<polygon class="covered" points="{ring}" fill="#bfdbfe" '
                'stroke="#ffffff" stroke-width="1"/>'
            )
    parts.append(
        f'<circle cx="{size / 2}" cy="{size / 2}" r="{radius_m * scale:.1f}" '
        'fill="#2563eb" fill-opacity="0.12" stroke="#2563eb" stroke-width="2"/>'
    )
    parts.append(f'<circle cx="{size / 2}" cy="{size / 2}" r="5" fill="#dc2626"/>')
    parts.append(f'<text x="8" y="{size - 8}" class="axis">radius {radius_m:,} m</text></svg>')
    return Markup("".join(parts))


def covered_cells(lat: float, lon: float, radius_m: int) -> list[str]:
    """H3 cells whose centres lie within the radius, at a resolution that keeps them few."""
    resolution = (
        9 if radius_m <= 1500 else 8 if radius_m <= 4000 else 7 if radius_m <= 10_000 else 6
    )
    centre = h3.latlng_to_cell(lat, lon, resolution)
    edge = h3.average_hexagon_edge_length(resolution, unit="m")
    disk = h3.grid_disk(centre, int(radius_m / (edge * 1.5)) + 1)
    return [c for c in disk if haversine_m(lat, lon, *h3.cell_to_latlng(c)) <= radius_m]
