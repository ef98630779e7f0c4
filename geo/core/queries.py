"""Query strings parsed by one pydantic model in the handler, for the hottest routes.

FastAPI validates each declared query parameter through its dependency machinery; on
`GET /v1/places/nearby` that was a tenth of the request's CPU (docs/benchmarks.md, issue 13).
A hot route instead declares no parameters, calls `parse_query`, and documents the model's fields
with `query_openapi`, so the OpenAPI document and validation come from the same model. Invalid
input raises FastAPI's own `RequestValidationError` with `query.<name>` locations: the same 422
problem as a declared parameter gives.
"""

from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

Model = TypeVar("Model", bound=BaseModel)


def parse_query(model: type[Model], request: Request) -> Model:
    # A repeated name counts once, its last value: as FastAPI reads a scalar parameter.
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(located(exc, ("query",))) from None


def located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    """A model's errors located as FastAPI locates a parameter's: under `query`, `body`, ..."""
    return [
        {**err, "loc": (*prefix, *err["loc"])}
        for err in exc.errors(include_url=False, include_context=False)
    ]


def query_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` entries describing the model's fields as query parameters."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": field,
        }
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return {"parameters": parameters}
