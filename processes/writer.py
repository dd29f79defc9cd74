"""Saves aggregates for the dispatcher and keeps its view in notification order.

What is read from the feed and what this process records itself reach the view the same way:
in notification order, so a view never skips a fact another writer recorded in between. The
aggregates it loaded or saved are kept, and moved forward by the feed, for the next decision;
a stale one shows up as a version conflict on save, and is then loaded again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

from slotqueue.aggregates.errors import NotFound
from slotqueue.processes.feed import EventFeed
from slotqueue.processes.queue_view import QueueView

A = TypeVar("A", bound=Aggregate)
CACHE_LIMIT = 20_000


class Writer:
    def __init__(self, app: Application[Any], view: QueueView, feed: EventFeed) -> None:
        self.app, self.view, self.feed = app, view, feed
        self._cache: dict[UUID, Aggregate] = {}
        self._previewed: set[int] = set()  # ids of pending events the view has seen already

    def get(self, kind: type[A], aggregate_id: UUID) -> A:
        found = self._cache.get(aggregate_id)
        if found is None:
            try:
                found = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise NotFound(f"unknown {kind.__name__} {aggregate_id}") from None
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[aggregate_id] = found
        if not isinstance(found, kind):
            raise NotFound(f"{aggregate_id} is not a {kind.__name__}")
        return found

    def forget(self, ids: Iterable[UUID]) -> None:
        for aggregate_id in ids:
            self._cache.pop(aggregate_id, None)

    def refresh(self, stop: int | None = None) -> int:
        """Applies what the feed has after the view's position (up to `stop`)."""
        applied = 0
        while True:
            batch = self.feed.read(self.view.position, stop)
            if not batch:
                return applied
            for notification_id, event in batch:
                self._apply(event)
                self.view.position = notification_id
            applied += len(batch)

    def refresh_if_changed(self) -> int:
        return self.refresh() if self.feed.changed() else 0

    def save(self, *aggregates: Aggregate) -> list[Recording[Any]]:
        """Saves all or nothing; what was recorded reaches the view in notification order."""
        try:
            recordings = self.app.save(*aggregates)
        except Exception:
            self._previewed.clear()
            raise
        for aggregate in aggregates:
            self._cache[aggregate.id] = aggregate
        ordered = sorted(recordings, key=lambda r: r.notification.id)
        if ordered and ordered[0].notification.id > self.view.position + 1:
            self.refresh(stop=ordered[0].notification.id - 1)  # others' events in between
        for recording in ordered:
            if recording.notification.id > self.view.position:
                if id(recording.domain_event) not in self._previewed:
                    self._apply(recording.domain_event)
                self.view.position = recording.notification.id
        self._previewed.clear()
        return recordings

    def preview(self, *aggregates: Aggregate) -> None:
        """Shows the view what these aggregates are about to record (their pending events),
        before it is saved: the next decision of the run must see it. If that save fails,
        what is recorded instead reaches the view in order; the view's handlers set absolute
        values, so the truth that is recorded is what the view ends with."""
        for aggregate in aggregates:
            for event in aggregate.pending_events:
                self.view.apply(event)
                self._previewed.add(id(event))

    def _apply(self, event: Any) -> None:
        self.view.apply(event)
        cached = self._cache.get(event.originator_id)
        if cached is None or event.originator_version <= cached.version:
            return
        if event.originator_version == cached.version + 1:
            event.mutate(cached)
        else:
            del self._cache[event.originator_id]
