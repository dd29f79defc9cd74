"""Customer endpoints (a customer token): the customer's own place, windows, locations, pause,
resume, cancel and history (spec service §2.2). A token reads and changes only its customer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends

from slotqueue.adapters.locations import all_locations, resolve
from slotqueue.adapters.presets import load_presets
from slotqueue.aggregates.errors import TransitionRefused
from slotqueue.aggregates.matcher import Selection
from slotqueue.api.auth import Principal, customer
from slotqueue.api.deps import Deps, deps
from slotqueue.api.errors import named
from slotqueue.api.models import LocationsIn, WindowsIn
from slotqueue.api.output import Json, ok
from slotqueue.projections import audit
from slotqueue.projections.customer_audit import customer_openings
from slotqueue.projections.customer_view import me
from slotqueue.projections.history_words import passed_over_in_words, sentences

router = APIRouter(prefix="/v1/me", tags=["customer"])
Me = Depends(customer)
D = Depends(deps)


def _me(d: Deps, who: Principal) -> Json:
    with d.reads.connection() as conn:
        return ok(me(conn, who.customer_id, d.timezone))


@router.get("")
def read_me(who: Principal = Me, d: Deps = D) -> Json:
    """The customer, their entry (status, rank, deposit and its deadline), windows, locations,
    booking and pending offer."""
    return _me(d, who)


@router.put("/windows")
def choose_windows(body: WindowsIn, who: Principal = Me, d: Deps = D) -> Json:
    """Replaces the target windows; checked against the active presets (`GET /v1/presets`)."""
    any_day = body.weekdays == "any"
    selection = Selection(
        timezone=body.timezone or d.timezone, date_horizon_key=body.horizon,
        weekday_rule_key="any_weekday" if any_day else "custom_weekdays",
        custom_weekdays=() if any_day else tuple(body.weekdays),  # type: ignore[arg-type]
        time_block_keys=tuple(body.blocks))
    with d.reads.connection() as conn:
        presets = load_presets(conn)
    with named("windows"):
        d.svc.app.select_windows(who.customer_id, selection, presets, d.now(), who.actor)
    d.settle()
    return _me(d, who)


@router.put("/locations")
def choose_locations(body: LocationsIn, who: Principal = Me, d: Deps = D) -> Json:
    """Replaces the preferred locations (ids or names)."""
    with d.reads.connection() as conn:
        known = all_locations(conn)
    with named("location_ids"):
        wanted = resolve(body.location_ids, known)
        d.svc.app.prefer_locations(who.customer_id, wanted, [loc.id for loc in known],
                                   d.now(), who.actor)
    d.settle()
    return _me(d, who)


def _open_entry(d: Deps, who: Principal) -> UUID:
    entry_id = d.svc.app.customer(who.customer_id).open_entry_id
    if entry_id is None:
        raise TransitionRefused("you have no place in the line: join again to get one")
    return entry_id  # type: ignore[no-any-return]


def _lifecycle(action: str, doc: str) -> Any:
    def change(who: Principal = Me, d: Deps = D) -> Json:
        getattr(d.svc.app, action)(_open_entry(d, who), d.now(), who.actor)
        d.settle()
        return _me(d, who)

    change.__doc__ = doc
    change.__name__ = action
    return change


for _action, _doc in (("pause", "Pauses the customer's place (queued or active)."),
                      ("resume", "Resumes a paused place to where it was."),
                      ("cancel", "Cancels the customer's place (a paid deposit stays paid).")):
    router.post(f"/{_action}")(_lifecycle(_action, _doc))


@router.get("/history")
def history(who: Principal = Me, d: Deps = D) -> Json:
    """The customer's own history in plain words, and the openings that went to someone else
    while they waited, with the first check they failed."""
    lines = audit.customer_history(d.svc.app, who.customer_id, None)
    with d.reads.connection() as conn:
        found = customer_openings(d.svc.app, conn, d.svc.app.customer(who.customer_id))
    return ok({"events": sentences(lines, d.timezone), "summary": found["summary"],
               "passed_over": passed_over_in_words(found["openings"], d.timezone)})
