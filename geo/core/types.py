"""Field types shared by every domain's schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer

Latitude = Annotated[
    float, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84 latitude.")
]
Longitude = Annotated[
    float, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84 longitude.")
]


def rfc3339(value: datetime) -> str:
    """RFC 3339 UTC with a `Z`, to the second (`2026-11-22T10:15:00Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


UtcDatetime = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


def _printable(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def _stripped_nonempty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


# Text a person typed: no control characters; `Name` is also stripped and must not be blank.
UserText = Annotated[str, AfterValidator(_printable)]
Name = Annotated[
    str,
    Field(min_length=1, max_length=200),
    AfterValidator(_printable),
    AfterValidator(_stripped_nonempty),
]
IdStr = Annotated[str, Field(pattern=r"^[0-9]{1,19}$", description="A decimal id string.")]
