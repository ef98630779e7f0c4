from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

Handle = Annotated[str, Field(min_length=3, max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
Password = Annotated[str, Field(min_length=8, max_length=200)]
# What anyone may sign up as; an `operator` (declares emergencies) is made on the server only.
AccountKind = Literal["member", "business", "advertiser"]
AnyAccountKind = Literal["member", "business", "advertiser", "operator"]


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: Handle
    password: Password
    kind: AccountKind = "member"


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: Annotated[str, Field(min_length=1, max_length=30)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class AccountRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    handle: str
    kind: AnyAccountKind
    created_at: datetime

    @field_serializer("created_at")
    def _utc(self, value: datetime) -> str:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountCreated(AccountRead):
    token: str
    # The token's current expiry; use moves it forward, up to the configured maximum age.
    expires_at: datetime

    @field_serializer("expires_at")
    def _expires_utc(self, value: datetime) -> str:
        return _rfc3339(value)


class TokenRead(BaseModel):
    token: str
    expires_at: datetime

    @field_serializer("expires_at")
    def _expires_utc(self, value: datetime) -> str:
        return _rfc3339(value)


class AccountErase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=200)]
