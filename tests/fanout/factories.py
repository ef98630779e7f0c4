"""Fan-out helpers: the server-sent events the live streams send."""


def deleted_event(checkin_id: str) -> str:
    return f'event: delete\ndata: {{"id":"{checkin_id}"}}\n\n'
