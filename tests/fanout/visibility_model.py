"""A plain Python model of who sees which check-in, at which precision, and what each home
timeline holds: the rules of API.md written out directly, with no SQL and no Redis.

- visible(v, c): the author; otherwise, with no block either way, a public check-in, or one to a
  circle of the author's that v is in while still the author's friend.
- the view: `circle` (exact place) for the author and circle members, else `public` at the
  author's public precision (an H3 cell centre for `area`/`city`, never the venue).
- lists keyed by the venue (a place's check-ins) hold only what v sees at `exact` precision.
- the local public stream: public check-ins whose *public* position (the venue for `exact`, the
  cell centre for `area`/`city`) is within the radius, and public safety reports whose area cell
  centre is, whoever reads it.
- home(v): delivered when created to the author, circle members (friends, not blocked) and, when
  public, followers (not blocked); an item leaves it when deleted or as soon as v no longer
  receives it (unfriend, circle removal or delete, unfollow, block).
- after Redis lost its data and was rebuilt (`lose_redis`): every home holds what its owner
  receives by *today's* graph, whenever the item was posted (a regenerated timeline is not a
  replay of the deliveries); it stays a subset of what the owner may see, so nothing leaks.
- safety reports: like check-ins, except that the private audience is all of the author's
  friends unless circles are named; the reported point is exact for the private audience and an
  `area` cell centre for the public. Timeline items carry `kind` ("checkin" or "safety").
"""

from dataclasses import dataclass, field
from typing import Any

import h3

from geo.core.geodesy import haversine_m

RESOLUTION = {"area": 7, "city": 5}


@dataclass
class Checkin:
    id: int
    author: int
    place: int
    circles: tuple[int, ...]
    public: bool
    precision: str
    message: str
    created_at: str
    deleted: bool = False


@dataclass
class Safety:
    id: int
    author: int
    circles: tuple[int, ...] | None  # None: all the author's friends
    public: bool
    status: str
    message: str
    created_at: str
    emergency: int
    at: tuple[float, float]


@dataclass
class Model:
    handles: dict[int, str]
    places: list[dict[str, Any]]
    friends: set[frozenset[int]] = field(default_factory=set)
    pending: dict[int, tuple[int, int]] = field(default_factory=dict)  # request id -> (from, to)
    circles: dict[int, tuple[int, set[int]]] = field(default_factory=dict)  # id -> owner, members
    follows: set[tuple[int, int]] = field(default_factory=set)  # (follower, followee)
    blocks: set[tuple[int, int]] = field(default_factory=set)  # (blocker, blocked)
    checkins: dict[int, Checkin] = field(default_factory=dict)
    home: dict[int, set[int]] = field(default_factory=dict)
    reports: dict[int, Safety] = field(default_factory=dict)

    @property
    def accounts(self) -> list[int]:
        return sorted(self.handles)

    # -- relations ------------------------------------------------------------------------------
    def are_friends(self, a: int, b: int) -> bool:
        return frozenset((a, b)) in self.friends

    def blocked_either(self, a: int, b: int) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    def friends_of(self, a: int) -> list[int]:
        return sorted(b for b in self.accounts if b != a and self.are_friends(a, b))

    def circles_of(self, owner: int) -> list[int]:
        return sorted(cid for cid, (o, _) in self.circles.items() if o == owner)

    def in_circle(self, v: int, c: Checkin) -> bool:
        return self.are_friends(c.author, v) and any(
            cid in self.circles and self.circles[cid][0] == c.author and v in self.circles[cid][1]
            for cid in c.circles
        )

    def visible(self, v: int, c: Checkin) -> bool:
        if c.deleted:
            return False
        return v == c.author or (
            not self.blocked_either(v, c.author) and (c.public or self.in_circle(v, c))
        )

    def receives(self, v: int, c: Checkin) -> bool:
        """Whether v's home timeline gets (and keeps) c."""
        if c.deleted:
            return False
        return v == c.author or (
            not self.blocked_either(v, c.author)
            and (self.in_circle(v, c) or (c.public and (v, c.author) in self.follows))
        )

    # -- graph changes, each answering the status the API should give ---------------------------
    def friend_request(self, a: int, b: int, request_id: int | None) -> tuple[int, str | None]:
        if (b, a) in self.blocks:
            return 404, None
        if (a, b) in self.blocks:
            return 422, None
        if self.are_friends(a, b):
            return 409, None
        if (a, b) in self.pending.values():
            return 409, None
        reverse = [rid for rid, pair in self.pending.items() if pair == (b, a)]
        if reverse:
            del self.pending[reverse[0]]
            self.friends.add(frozenset((a, b)))
            return 201, "accepted"
        assert request_id is not None
        self.pending[request_id] = (a, b)
        return 201, "pending"

    def accept(self, request_id: int) -> None:
        a, b = self.pending.pop(request_id)
        self.friends.add(frozenset((a, b)))

    def unfriend(self, a: int, b: int) -> int:
        if not self.are_friends(a, b):
            return 404
        self._end_friendship(a, b)
        return 204

    def _end_friendship(self, a: int, b: int) -> None:
        self.friends.discard(frozenset((a, b)))
        for owner, members in self.circles.values():
            if owner == a:
                members.discard(b)
            if owner == b:
                members.discard(a)

    def follow(self, a: int, b: int) -> int:
        if (b, a) in self.blocks:
            return 404
        if (a, b) in self.blocks:
            return 422
        self.follows.add((a, b))
        return 204

    def block(self, a: int, b: int) -> None:
        self.blocks.add((a, b))
        self._end_friendship(a, b)
        self.follows -= {(a, b), (b, a)}
        self.pending = {rid: p for rid, p in self.pending.items() if set(p) != {a, b}}

    def settle(self) -> None:
        """What the fan-out has done once drained: every home holds only what its owner receives."""
        for v, held in self.home.items():
            self.home[v] = {
                i
                for i in held
                if (
                    self.receives_report(v, self.reports[i])
                    if i in self.reports
                    else self.receives(v, self.checkins[i])
                )
            }

    def lose_redis(self) -> None:
        """Redis lost every timeline and recovery regenerated them from PostgreSQL."""
        self.home = {
            v: {c.id for c in self.checkins.values() if self.receives(v, c)}
            | {r.id for r in self.reports.values() if self.receives_report(v, r)}
            for v in self.accounts
        }

    # -- safety reports ---------------------------------------------------------------------------
    def private_report(self, v: int, r: Safety) -> bool:
        return self.are_friends(r.author, v) and (
            r.circles is None
            or any(
                cid in self.circles
                and self.circles[cid][0] == r.author
                and v in self.circles[cid][1]
                for cid in r.circles
            )
        )

    def visible_report(self, v: int, r: Safety) -> bool:
        return v == r.author or (
            not self.blocked_either(v, r.author) and (r.public or self.private_report(v, r))
        )

    def receives_report(self, v: int, r: Safety) -> bool:
        return v == r.author or (
            not self.blocked_either(v, r.author)
            and (self.private_report(v, r) or (r.public and (v, r.author) in self.follows))
        )

    def add_report(self, r: Safety) -> None:
        self.reports[r.id] = r
        for v in self.accounts:
            if self.receives_report(v, r):
                self.home.setdefault(v, set()).add(r.id)

    def report_view(self, v: int, r: Safety) -> dict[str, Any]:
        private = v == r.author or self.private_report(v, r)
        lat, lon = r.at
        if private:
            place = {"precision": "exact", "lat": round(lat, 6), "lon": round(lon, 6)}
        else:
            cell = h3.latlng_to_cell(lat, lon, RESOLUTION["area"])
            clat, clon = h3.cell_to_latlng(cell)
            place = {
                "precision": "area",
                "cell": cell,
                "lat": round(clat, 6),
                "lon": round(clon, 6),
            }
        return {
            "id": str(r.id),
            "kind": "safety",
            "emergency_id": str(r.emergency),
            "account": {"id": str(r.author), "handle": self.handles[r.author]},
            "status": r.status,
            "message": r.message,
            "created_at": r.created_at,
            "audience": "circle" if private else "public",
            "place": place,
        }

    def _timeline(self, v: int, ids: set[int]) -> list[dict[str, Any]]:
        """Check-ins and safety reports among `ids` that v may see, newest first, with `kind`."""
        items = [{**i, "kind": "checkin"} for i in self._newest_first(v, ids - set(self.reports))]
        items += [
            self.report_view(v, self.reports[i])
            for i in ids & set(self.reports)
            if self.visible_report(v, self.reports[i])
        ]
        return sorted(items, key=lambda i: -int(i["id"]))

    def add_checkin(self, c: Checkin) -> None:
        self.checkins[c.id] = c
        for v in self.accounts:
            if self.receives(v, c):
                self.home.setdefault(v, set()).add(c.id)

    # -- what each viewer should read -----------------------------------------------------------
    def view(self, v: int, c: Checkin) -> dict[str, Any]:
        via_circle = v == c.author or self.in_circle(v, c)
        return {
            "id": str(c.id),
            "account": {"id": str(c.author), "handle": self.handles[c.author]},
            "place": self.place_view(c.place, "exact" if via_circle else c.precision),
            "message": c.message,
            "created_at": c.created_at,
            "audience": "circle" if via_circle else "public",
        }

    def place_view(self, index: int, precision: str) -> dict[str, Any]:
        place = self.places[index]
        if precision == "exact":
            return {"precision": "exact", **place}
        cell = h3.latlng_to_cell(place["lat"], place["lon"], RESOLUTION[precision])
        lat, lon = h3.cell_to_latlng(cell)
        return {"precision": precision, "cell": cell, "lat": round(lat, 6), "lon": round(lon, 6)}

    def _newest_first(self, v: int, ids: object) -> list[dict[str, Any]]:
        chosen = [self.checkins[cid] for cid in ids]  # type: ignore[attr-defined]
        return [self.view(v, c) for c in sorted(chosen, key=lambda c: -c.id) if self.visible(v, c)]

    def home_items(self, v: int) -> list[dict[str, Any]]:
        return self._timeline(v, self.home.get(v, set()))

    def public_ids(self) -> set[int]:
        return {c.id for c in self.checkins.values() if c.public and not c.deleted} | {
            r.id for r in self.reports.values() if r.public
        }

    def public_position(self, c: Checkin) -> tuple[float, float]:
        place = self.places[c.place]
        if c.precision == "exact":
            return place["lat"], place["lon"]
        return h3.cell_to_latlng(
            h3.latlng_to_cell(place["lat"], place["lon"], RESOLUTION[c.precision])
        )

    def public_items(self, v: int, near: tuple[float, float, float] | None = None) -> list[dict]:
        if near is None:
            return self._timeline(v, self.public_ids())
        # The local stream holds public check-ins placed at their public position, and public
        # safety reports placed at their area cell's centre.
        lat, lon, radius = near
        ids = {
            c.id
            for c in self.checkins.values()
            if c.public
            and not c.deleted
            and haversine_m(lat, lon, *self.public_position(c)) <= radius
        } | {
            r.id
            for r in self.reports.values()
            if r.public and haversine_m(lat, lon, *self.report_public_position(r)) <= radius
        }
        return self._timeline(v, ids)

    def report_public_position(self, r: Safety) -> tuple[float, float]:
        return h3.cell_to_latlng(h3.latlng_to_cell(*r.at, RESOLUTION["area"]))

    def sees_exact(self, v: int, c: Checkin) -> bool:
        return self.visible(v, c) and (
            v == c.author or self.in_circle(v, c) or (c.public and c.precision == "exact")
        )

    def author_items(self, v: int, author: int) -> list[dict[str, Any]]:
        return self._newest_first(v, [c.id for c in self.checkins.values() if c.author == author])

    def place_items(self, v: int, place: int) -> list[dict[str, Any]]:
        return self._newest_first(
            v, [c.id for c in self.checkins.values() if c.place == place and self.sees_exact(v, c)]
        )
