"""Output caches keyed by input signature (execution.md §8.3): classic, LRU, none and RAM pressure.

Entries of nodes created by expansion are stored under their scope: the key of the expanding node,
and the key of the top-level node the chain of expansions started from (their root). Classic mode
keeps a scope exactly as long as its root is part of the current run.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from impasto.graph.signature import CacheKey


class CacheMode(StrEnum):
    """How outputs survive between runs (ComfyUI's --cache-* flags)."""

    CLASSIC = "classic"  # entries the current run does not use are dropped at its start
    LRU = "lru"  # at most N entries, least recently used evicted first
    NONE = "none"  # nothing survives a run
    RAM = "ram"  # least recently used, evicted when free RAM falls below a headroom


@dataclass(frozen=True, slots=True)
class CacheSettings:
    mode: CacheMode = CacheMode.CLASSIC
    lru_size: int = 0
    ram_headroom_gb: float | None = None  # RAM mode: None means 10% of RAM, clamped to 2-10 GB


@dataclass(slots=True)
class CacheEntry:
    ui: dict[str, Any] | None  # the node's merged `ui` output
    outputs: list[list[Any]]  # one list of values per output slot


@dataclass(slots=True)
class _Stored:
    key: CacheKey
    entry: CacheEntry
    node_id: str  # the id the entry was last stored under (reported in `current_outputs`)
    root: CacheKey  # the top-level key this entry belongs to (itself for top-level nodes)
    scope: CacheKey | None  # the expanding node's key, None for top-level nodes
    generation: int
    size: int = field(default=0)


class OutputCache(Protocol):
    """Node outputs kept across runs. Used from the executing thread only."""

    def begin_run(self, keys: Collection[CacheKey]) -> None:
        """Start a run whose top-level nodes have these keys; drops what the policy says to drop."""
        ...

    def begin_scope(self, scope: CacheKey, keys: Collection[CacheKey]) -> None:
        """An expansion under `scope` created nodes with these keys (classic drops the scope's others)."""
        ...

    def get(self, key: CacheKey) -> CacheEntry | None:
        """The entry, or None when absent."""
        ...

    def put(
        self, key: CacheKey, entry: CacheEntry, *, node_id: str, root: CacheKey, scope: CacheKey | None
    ) -> None: ...

    def node_ids(self, scoped_only: bool) -> set[str]:
        """Ids entries were stored under (only those of expansion scopes when `scoped_only`)."""
        ...

    def poll(self) -> None:
        """Called after every node: evict under memory pressure (RAM mode)."""
        ...

    def clear(self) -> None: ...


class DictOutputCache:
    """The classic, LRU and RAM-pressure policies over one dictionary."""

    def __init__(self, settings: CacheSettings, free_ram: Callable[[], int] | None = None) -> None:
        mode = settings.mode
        if mode is CacheMode.LRU and settings.lru_size <= 0:
            mode = CacheMode.CLASSIC  # ComfyUI: --cache-lru 0 means classic
        self.mode = mode
        self.lru_size = settings.lru_size
        self._entries: dict[CacheKey, _Stored] = {}
        self._generation = 0
        self._free_ram = free_ram or available_ram_bytes
        self._headroom = _headroom_bytes(settings.ram_headroom_gb)

    def begin_run(self, keys: Collection[CacheKey]) -> None:
        self._generation += 1
        wanted = set(keys)
        for stored in self._entries.values():
            if stored.root in wanted:
                stored.generation = self._generation
        if self.mode is CacheMode.CLASSIC:
            self._drop(lambda s: s.root not in wanted)
        elif self.mode is CacheMode.LRU:
            self._trim_lru()

    def begin_scope(self, scope: CacheKey, keys: Collection[CacheKey]) -> None:
        if self.mode is CacheMode.CLASSIC:
            wanted = set(keys)
            self._drop(lambda s: s.scope == scope and s.key not in wanted)

    def get(self, key: CacheKey) -> CacheEntry | None:
        stored = self._entries.get(key)
        if stored is None:
            return None
        stored.generation = self._generation
        return stored.entry

    def put(self, key: CacheKey, entry: CacheEntry, *, node_id: str, root: CacheKey, scope: CacheKey | None) -> None:
        size = estimate_size(entry.outputs) if self.mode is CacheMode.RAM else 0
        self._entries[key] = _Stored(key, entry, node_id, root, scope, self._generation, size)

    def node_ids(self, scoped_only: bool) -> set[str]:
        return {s.node_id for s in self._entries.values() if not scoped_only or s.scope is not None}

    def poll(self) -> None:
        if self.mode is not CacheMode.RAM:
            return
        deficit = self._headroom - self._free_ram()
        if deficit <= 0:
            return
        # Oldest first, and among equally old the largest: the entries least likely to be reused per byte.
        candidates = sorted(
            (k for k, s in self._entries.items() if s.generation < self._generation),
            key=lambda k: (self._entries[k].generation, -self._entries[k].size),
        )
        for key in candidates:
            deficit -= self._entries.pop(key).size
            if deficit <= 0:
                break
        gc.collect()

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _trim_lru(self) -> None:
        excess = len(self._entries) - self.lru_size
        if excess <= 0:
            return
        old = sorted(
            (k for k, s in self._entries.items() if s.generation < self._generation),
            key=lambda k: self._entries[k].generation,
        )
        for key in old[:excess]:
            del self._entries[key]

    def _drop(self, condition: Callable[[_Stored], bool]) -> None:
        for key in [k for k, s in self._entries.items() if condition(s)]:
            del self._entries[key]


class NullOutputCache:
    """`--cache-none`: nothing is kept between runs."""

    mode = CacheMode.NONE

    def begin_run(self, keys: Collection[CacheKey]) -> None:
        pass

    def begin_scope(self, scope: CacheKey, keys: Collection[CacheKey]) -> None:
        pass

    def get(self, key: CacheKey) -> CacheEntry | None:
        return None

    def put(self, key: CacheKey, entry: CacheEntry, *, node_id: str, root: CacheKey, scope: CacheKey | None) -> None:
        pass

    def node_ids(self, scoped_only: bool) -> set[str]:
        return set()

    def poll(self) -> None:
        pass

    def clear(self) -> None:
        pass


def make_cache(settings: CacheSettings, free_ram: Callable[[], int] | None = None) -> OutputCache:
    if settings.mode is CacheMode.NONE:
        return NullOutputCache()
    return DictOutputCache(settings, free_ram)


def estimate_size(value: Any, depth: int = 0) -> int:
    """Bytes held by tensors (anything with `nbytes`) inside a value; containers are walked a few levels deep."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if depth > 4:
        return 0
    if isinstance(value, list | tuple):
        return sum(estimate_size(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return sum(estimate_size(v, depth + 1) for v in value.values())
    return 0


def available_ram_bytes() -> int:
    """MemAvailable from /proc/meminfo (Linux); on other systems, physical pages times page size."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _headroom_bytes(headroom_gb: float | None) -> int:
    gib = 1024**3
    if headroom_gb is not None:
        return int(headroom_gb * gib)
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(min(max(total * 0.10, 2 * gib), 10 * gib))
