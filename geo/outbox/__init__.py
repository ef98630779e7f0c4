"""The outbox: fan-out work recorded in the writer's own transaction, relayed after the commit.

Its own package, below every domain that records events (checkins, social, emergencies, the
account erasure) and below the fan-out that relays and handles them, so neither side imports the
other. Only this package writes `outbox` rows.
"""
