"""Redis keys of the emergencies domain (built only here).

- `emergency:{areas}:version`: a counter bumped (by the fan-out worker, after the commit) whenever
  an emergency is declared or its end moves; each process re-reads its active areas when it
  changes. One small integer, no TTL.
"""

AREAS_VERSION = "emergency:{areas}:version"
