"""Rules of the architecture that import-linter cannot see (.importlinter holds the others)."""

import re
from pathlib import Path

GEO = Path(__file__).resolve().parents[1] / "geo"
OUTBOX_SQL = re.compile(r"\b(INTO|UPDATE|FROM)\s+outbox\b", re.IGNORECASE)


def test_only_the_outbox_package_writes_or_reads_outbox_rows() -> None:
    """Writers record events through geo.outbox (its events or its one-statement inserts), so
    the table's shape and topics are defined once."""
    offenders = [
        f"{path.relative_to(GEO.parent)}:{number}"
        for path in GEO.rglob("*.py")
        if "outbox" not in path.relative_to(GEO).parts[:1]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTBOX_SQL.search(line)
    ]
    assert offenders == []
