"""Every table, imported once so Alembic sees the whole schema (`alembic check` in the suite)."""

from geo.accounts import models as _accounts  # noqa: F401
from geo.ads import models as _ads  # noqa: F401
from geo.checkins import models as _checkins  # noqa: F401
from geo.core.db import Base
from geo.emergencies import models as _emergencies  # noqa: F401
from geo.outbox import models as _outbox  # noqa: F401
from geo.places import models as _places  # noqa: F401
from geo.reports import models as _reports  # noqa: F401
from geo.social import models as _social  # noqa: F401

metadata = Base.metadata
