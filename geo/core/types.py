"""Field types shared by every domain's schemas."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

# Numbers in JSON bodies are JSON numbers. Pydantic's lax mode would read `true` as 1 and
# `"35.6"` as 35.6; a client that sends those has a bug it should hear about (422), not a
# check-in at latitude 1. Query parameters are text and stay lax (they do not use these).
# A strict float still takes an integer (JSON has one number type), and is checked in Rust: the
# check-in's coordinates are on a hot path.
JsonFloat = Annotated[float, Strict()]


def json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Not `Strict()` for integers: JSON Schema's integer includes 2.0 (schema-driven clients send
# it), which lax mode takes, and 2.5 not. Put it last, after the bounds:
# `Annotated[int, Field(ge=1), JSON_INT]`; before them it would keep them out of the int schema,
# and so out of the OpenAPI document.
JSON_INT = BeforeValidator(json_number)

Latitude = Annotated[
    JsonFloat, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84 latitude.")
]
Longitude = Annotated[
    JsonFloat, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84 longitude.")
]


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with a `Z`, to the second (`2026-11-22T10:15:00Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


UtcDatetime = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


def _printable(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValueError("control characters are not allowed")
    try:  # JSON's "\ud800" decodes to a lone surrogate: no UTF-8 (nor PostgreSQL) text has one
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("unpaired surrogates are not text") from None
    return value


def _stripped_nonempty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# The validators' rules as JSON Schema patterns, so the OpenAPI document states them (the
# validators stay: their messages say which rule broke). Newline and tab are the allowed controls.
_PRINTABLE = r"[^\x00-\x08\x0b-\x1f]"
PRINTABLE_PATTERN = rf"^{_PRINTABLE}*$"


def printable_with(required: str) -> str:
    """A pattern for printable text holding at least one character of the class `required`."""
    return rf"^{_PRINTABLE}*{required}{_PRINTABLE}*$"


NOT_BLANK_PATTERN = printable_with(r"[^\s\x00-\x1f]")

# Text a person typed: no control characters; `Name` is also stripped and must not be blank.
UserText = Annotated[
    str,
    AfterValidator(_printable),
    Field(json_schema_extra={"pattern": PRINTABLE_PATTERN}),
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(_printable),
    AfterValidator(_stripped_nonempty),
]
IdStr = Annotated[str, Field(pattern=r"^[0-9]{1,19}$", description="A decimal id string.")]

# Read side: coordinates as PostGIS rendered them (ST_AsGeoJSON), so an integral degree stays
# `139`, not `139.0`, and an answer's bytes do not depend on the model that carried them.
StoredNumber = Annotated[int | float, WithJsonSchema({"type": "number"})]


class StoredPolygon(BaseModel):
    """A GeoJSON Polygon as stored (each domain validates its polygons on the way in)."""

    type: Literal["Polygon"]
    coordinates: list[list[list[StoredNumber]]]
