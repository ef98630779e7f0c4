from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.core.types import IdStr, Name, UtcDatetime

MAX_CIRCLE_MEMBERS = 5000


class FriendRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: IdStr


class FriendRequestRead(BaseModel):
    id: IdStr
    from_: IdStr = Field(serialization_alias="from", validation_alias="from")
    to: IdStr
    status: Literal["pending", "accepted", "cancelled"]

    model_config = ConfigDict(populate_by_name=True)


class CircleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Name, Field(max_length=100)]
    members: Annotated[list[IdStr], Field(max_length=MAX_CIRCLE_MEMBERS)] = []


class CircleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Name, Field(max_length=100)] | None = None
    members: Annotated[list[IdStr], Field(max_length=MAX_CIRCLE_MEMBERS)] | None = None


class CircleRead(BaseModel):
    id: IdStr
    name: str
    members: list[IdStr]
    created_at: UtcDatetime


class CirclePage(BaseModel):
    items: list[CircleRead]
    next: str | None


class AccountSummary(BaseModel):
    id: IdStr
    handle: str
    kind: str
    created_at: UtcDatetime


class AccountPage(BaseModel):
    items: list[AccountSummary]
    next: str | None


class ExportPerson(BaseModel):
    id: IdStr
    handle: str


class ExportCircle(BaseModel):
    id: IdStr
    name: str
    members: list[IdStr]


class SocialExport(BaseModel):
    """An account's part of the graph, as `GET /v1/me/export` hands it back."""

    friends: list[ExportPerson]
    circles: list[ExportCircle]
    following: list[ExportPerson]
    followers: list[ExportPerson]
    blocked: list[ExportPerson]
