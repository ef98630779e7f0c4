"""Documents of the composition layer: those made of several domains' parts."""

from pydantic import BaseModel

from geo.accounts.schemas import AccountRead
from geo.checkins.schemas import ExportCheckin
from geo.social.schemas import ExportCircle, ExportPerson


class AccountExport(BaseModel):
    """Everything the service holds that is the person's own."""

    account: AccountRead
    checkins: list[ExportCheckin]
    friends: list[ExportPerson]
    circles: list[ExportCircle]
    following: list[ExportPerson]
    followers: list[ExportPerson]
    blocked: list[ExportPerson]
