"""``GET /events``: the journal (pyctr.core.events) replayed from ``since`` and followed,
one JSON object per chunk, with no time limit while the client stays (podman#5224)."""

from __future__ import annotations

import time

from pyctr.api.errors import ApiError
from pyctr.api.routes import route

TYPE_CHECKING = False  # not typing's: importing typing costs each command ~5 ms

if TYPE_CHECKING:
    from pyctr.api.http import Request


def _time(req: Request, name: str) -> float | None:
    value = req.arg(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {value!r} (want a unix time)") from None


@route("GET", "/events")
def events_route(req: Request) -> None:
    from pyctr.api import filters as flt
    from pyctr.core import events

    since, until = _time(req, "since"), _time(req, "until")
    wanted = req.filters()
    flt.check(wanted, events.FILTER_KEYS)
    runroot = req.engine.config.runroot
    follower = events.Follower(runroot)  # from now: what the replay below does not see
    stream = req.stream()
    last = 0
    if since is not None:
        for event in events.read(runroot, since, until):
            if events.matches(event, wanted):
                stream.json(event)
            last = event.get("timeNano", last)
    try:
        while until is None or time.time() <= until:
            for event in follower.poll():
                if event.get("timeNano", 0) <= last:
                    continue  # (replayed already)
                if until is not None and event.get("timeNano", 0) / 1e9 > until:
                    break
                if events.matches(event, wanted):
                    stream.json(event)
            if stream.gone(0.1 if until is None else min(0.1, max(0.0, until - time.time()))):
                break  # the client left, or the service is stopping: the stream ends properly
    finally:
        follower.close()
    stream.close()
