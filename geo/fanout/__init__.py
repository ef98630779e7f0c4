"""Fan-out: the outbox relay, the stream workers, and the feeds they write (Mastodon's shape)."""
