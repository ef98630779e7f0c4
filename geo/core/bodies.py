"""JSON bodies and headers parsed in the handler, for the hottest write routes.

The counterpart of `geo.core.queries` for a request body: FastAPI reads and validates a declared
body parameter (and each header parameter) through its dependency solving, which cost
`POST /v1/checkins` more CPU than its SQL (docs/benchmarks.md, issue 13). A hot route declares no
parameters and instead:

1. `await read_json_body(request)` first, as FastAPI reads a body before it solves dependencies
   (malformed JSON is a 400 even without a token);
2. authenticates (`geo.accounts.auth.authenticate`: 401);
3. `validated(...)` the header and body values together: one 422 naming every invalid field, header
   fields first, as FastAPI answers.

Each step gives FastAPI's own error (the same problem documents), and `body_openapi` /
`header_openapi` describe the body and header in the OpenAPI document as a declared parameter
would.
"""

import email.message
import json
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Schema
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request

from geo.core.queries import located

Model = TypeVar("Model", bound=BaseModel)
# No body at all: FastAPI's "Field required" at `body` (an empty body is not JSON `null`).
NO_BODY: Any = object()
REF = "#/components/schemas/{model}"


async def read_json_body(request: Request) -> Any:
    """The body as FastAPI reads a JSON body parameter: parsed when the content type is JSON (with
    `json.loads`, as Starlette's `Request.json`: NaN and big integers parse, validation decides),
    the raw bytes otherwise (validation then refuses them), `NO_BODY` when there is none."""
    try:
        body = await request.body()
        if not body:
            return NO_BODY
        content_type = request.headers.get("content-type")
        if content_type is None or not _is_json(content_type):
            return body  # FastAPI's strict content type: no JSON without saying so
        return json.loads(body)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error], body=exc.doc) from exc
    except Exception as exc:  # a body that is not text, a client gone mid-body: as FastAPI
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def _is_json(content_type: str) -> bool:
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class HeaderField:
    """One optional header validated as FastAPI validates a `Header()` parameter."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self.adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def parse(self, request: Request, errors: list[dict[str, Any]]) -> Any:
        value = request.headers.get(self.name)
        if value is None:
            return None
        try:
            return self.adapter.validate_python(value)
        except ValidationError as exc:
            errors.extend(located(exc, ("header", self.name)))
            return None

    def openapi(self) -> dict[str, Any]:
        schema = {**self.adapter.json_schema(ref_template=REF), "title": self.name}
        return {"name": self.name, "in": "header", "required": False, "schema": schema}


def validated(model: type[Model], body: Any, errors: list[dict[str, Any]]) -> Model:
    """The body as `model`; raises FastAPI's 422 with `errors` (collected from the headers) and
    the body's own, located under `body` as FastAPI locates them."""
    if body is NO_BODY:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            data = model.model_validate(body, from_attributes=True)
        except ValidationError as exc:
            errors.extend(located(exc, ("body",)))
    if errors:
        raise RequestValidationError(errors, body=None if body is NO_BODY else body)
    return data


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a required JSON body of `model`; the model's schema must be in the
    document's components (`geo.app` adds those of `documented_bodies`)."""
    ref = REF.format(model=model.__name__)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": ref}}},
        }
    }


def add_body_schemas(schema: dict[str, Any], models: list[type[BaseModel]]) -> dict[str, Any]:
    """Put the models of `body_openapi` bodies (and what they refer to) into the components."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        body = model.model_json_schema(ref_template=REF)
        for name, definition in {**body.pop("$defs", {}), model.__name__: body}.items():
            components[name] = _as_fastapi_writes(definition)
    return schema


def _as_fastapi_writes(definition: dict[str, Any]) -> Any:
    # FastAPI passes its document through its OpenAPI models (bounds as floats, no null defaults):
    # the same here, so a component reads the same whichever route declared it.
    return jsonable_encoder(Schema(**definition), by_alias=True, exclude_none=True)
