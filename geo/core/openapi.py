"""OpenAPI helpers: declare the problem responses an endpoint can give, so the document is true."""

from typing import Any

from pydantic import BaseModel

from geo.core.errors import PROBLEM_MEDIA_TYPE

_TITLES = {
    400: "Malformed request",
    401: "Missing or invalid bearer token",
    403: "Not allowed to change this",
    404: "Not found (or not visible to you)",
    409: "Conflict",
    422: "Validation failed",
    429: "Rate limited",
    503: "A server is down or the service is busy (`component` names the server); retry after"
    " `Retry-After`",
}


PROBLEM_REF = "#/components/schemas/Problem"


class FieldError(BaseModel):
    field: str
    message: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    component: str | None = None  # 503: "postgresql" or "redis", the server that is down


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these problem statuses (400, 422 and 503 are always possible: any
    request may meet an outage)."""
    wanted = set(statuses) | {400, 422, 503}
    return {
        status: {
            "description": _TITLES.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
        }
        for status in sorted(wanted)
    }


def problem_with(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A `responses=` entry for a problem that carries more members (`model`), served as
    application/problem+json like every problem. The model's own references must be in the
    document's components already (a route's response_model puts them there)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}}}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its references written out in place, for a response under a
    second media type (GeoJSON), which FastAPI does not put in the document's components."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolved(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolved(defs[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(value) for value in node]
        return node

    return resolved(schema)  # type: ignore[no-any-return]


def add_problem_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """Put `Problem` (and what it refers to) into the document's components."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    return schema
