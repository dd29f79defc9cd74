"""The entries that could win a slot right now, grouped so a slot is matched against each
distinct window choice once instead of against every entry.

A candidate is active, paid, not held by an attempt, and has chosen windows and locations.
Per location its candidates are grouped by their exact target-window choice; each group keeps
its members in rank order, and the groups are kept in the rank order of their first member.
All members of a group pass or fail a slot's checks together, so offering the groups' first
members to `queue_policy.first_eligible` in that order finds the same winner as offering
every candidate. Adding and removing an entry costs O(log n); choosing costs the number of
distinct choices tried, not the length of the queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from sortedcontainers import SortedDict, SortedList

from slotqueue.aggregates.matcher import Selection
from slotqueue.aggregates.queue_policy import Candidate, RankKey


@dataclass(frozen=True)
class _Member:
    key: RankKey
    candidate: Candidate


class CandidateIndex:
    def __init__(self) -> None:
        self._members: dict[UUID, _Member] = {}
        # location -> window choice -> members' rank keys, in rank order
        self._groups: dict[UUID, dict[Selection, SortedList]] = {}
        # location -> first member's rank key -> that group's window choice
        self._fronts: dict[UUID, SortedDict] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._members

    def add(self, candidate: Candidate) -> None:
        """Adds (or replaces) an entry; one without windows can never win and is not kept."""
        self.remove(candidate.entry_id)
        if candidate.selection is None or not candidate.location_ids:
            return
        member = _Member(candidate.rank_key, candidate)
        self._members[candidate.entry_id] = member
        for location_id in candidate.location_ids:
            group = self._groups.setdefault(location_id, {}).setdefault(
                candidate.selection, SortedList())
            old_front = group[0] if group else None
            group.add(member.key)
            self._refront(location_id, candidate.selection, old_front, group)

    def remove(self, entry_id: UUID) -> None:
        member = self._members.pop(entry_id, None)
        if member is None:
            return
        selection = member.candidate.selection
        assert selection is not None  # only entries with windows are members
        for location_id in member.candidate.location_ids:
            groups = self._groups[location_id]
            group = groups[selection]
            old_front = group[0]
            group.remove(member.key)
            self._refront(location_id, selection, old_front, group)
            if not group:
                del groups[selection]

    def _refront(self, location_id: UUID, selection: Selection, old: RankKey | None,
                 group: SortedList) -> None:
        new = group[0] if group else None
        if new == old:
            return
        fronts = self._fronts.get(location_id)
        if fronts is None:
            fronts = self._fronts[location_id] = SortedDict()
        if old is not None:
            del fronts[old]
        if new is not None:
            fronts[new] = selection

    def heads(self, location_id: UUID) -> Iterator[Candidate]:
        """The first candidate of each window choice at this location, in rank order."""
        for key in self._fronts.get(location_id, {}):
            yield self._members[key[2]].candidate

    def members(self, location_id: UUID, head: Candidate) -> Iterator[Candidate]:
        """Every candidate at this location that chose what `head` chose, in rank order."""
        assert head.selection is not None  # heads are members: they have windows
        for key in self._groups.get(location_id, {}).get(head.selection, ()):
            yield self._members[key[2]].candidate

    def candidate(self, entry_id: UUID) -> Candidate | None:
        member = self._members.get(entry_id)
        return None if member is None else member.candidate
