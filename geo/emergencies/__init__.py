"""Emergencies: declared disaster areas, safety check-ins, the friends' board and alerts."""
