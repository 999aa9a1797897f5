"""A small least-recently-used cache that counts its hits and misses (every cache of a stage is explicit)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

Value = TypeVar("Value")


class LruCache:
    """Maps hashable keys to values, keeping the `capacity` most recently used ones.

    Hits and misses are counted into `stats[f"{name}_hits"]` and `stats[f"{name}_misses"]`, a dict shared
    by all caches of one renderer, so that tests and the GUI can see which stages were recomputed.
    """

    def __init__(self, name: str, capacity: int, stats: dict[str, int]):
        if capacity < 1:
            raise ValueError(f"cache {name!r}: capacity must be at least 1, got {capacity}")
        self.name = name
        self.capacity = capacity
        self.stats = stats
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        stats.setdefault(f"{name}_hits", 0)
        stats.setdefault(f"{name}_misses", 0)

    def get_or_create(self, key: Hashable, create: Callable[[], Value]) -> Value:
        """The cached value for `key`, or `create()` stored under it (an exception stores nothing)."""
        if key in self._entries:
            self._entries.move_to_end(key)
            self.stats[f"{self.name}_hits"] += 1
            return self._entries[key]
        self.stats[f"{self.name}_misses"] += 1
        value = create()
        self._entries[key] = value
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every entry (after an out-of-memory error, for instance); counters are kept."""
        self._entries.clear()

    def values(self) -> list:
        """The cached values, least recently used first."""
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries
