"""Distance bands from the campaign's place: the second dimension of every rollup cell."""

# Upper edges in metres; a viewer at or beyond the last edge falls in the last band.
BAND_EDGES_M = (250, 500, 1000, 2000)
BAND_SQL = "width_bucket(distance_m, ARRAY[250, 500, 1000, 2000]::real[])"


def band_label(band: int) -> tuple[int, int | None]:
    """The [from, to) metres of a band; `to` is None for the open last band."""
    lower = 0 if band == 0 else BAND_EDGES_M[band - 1]
    upper = BAND_EDGES_M[band] if band < len(BAND_EDGES_M) else None
    return lower, upper


BANDS = range(len(BAND_EDGES_M) + 1)
