"""JSON responses serialised once with orjson (the handlers build plain dicts)."""

import orjson
from starlette.responses import Response


def json_response(
    body: object, status: int = 200, media_type: str = "application/json"
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)
