"""The social graph of both networks: mutual friendships and circles (closed), follows (public),
and blocks, which cut both."""
