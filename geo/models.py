"""Every table, imported once so Alembic sees the whole schema."""

from geo.accounts import models as _accounts  # noqa: F401
from geo.core.db import Base
from geo.places import models as _places  # noqa: F401
from geo.social import models as _social  # noqa: F401

metadata = Base.metadata
