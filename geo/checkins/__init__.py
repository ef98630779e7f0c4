"""Check-ins: plausibility, idempotent writes, per-audience views."""
