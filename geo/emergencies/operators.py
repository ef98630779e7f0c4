"""Operator accounts, made on the server (`geo operator create HANDLE`), never over HTTP."""

import sys

from pydantic import TypeAdapter, ValidationError

from geo.accounts import service as accounts
from geo.accounts.schemas import Handle
from geo.core.config import Settings
from geo.core.db import Database
from geo.core.errors import Conflict


async def create_operator(db: Database, handle: str, settings: Settings) -> str:
    """Make an operator and return its token; exits with a one-line reason on a bad handle."""
    try:
        TypeAdapter(Handle).validate_python(handle)
    except ValidationError:
        sys.exit("geo operator create: a handle is 3-30 letters, digits or underscores")
    try:
        async with db.sessionmaker() as session, session.begin():
            _, token = await accounts.create_operator(session, handle=handle, settings=settings)
    except Conflict as exc:
        sys.exit(f"geo operator create: {exc.detail}")
    return token
