"""The node catalog as the server holds it: object_info plus validation data, from the node host.

It is kept on disk so that a restarted server answers /object_info before the node host is up. Each
/object_info request refreshes it (combo lists such as input images are live); validation uses the held
catalog and refreshes once when a result may come from a stale list.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from impasto.config import Settings
from impasto.graph.catalog import CatalogEntryJson, NodeDef, catalog_from_json
from impasto.workers.nodehost import NodeDefinitions

log = logging.getLogger(__name__)


def catalog_file(settings: Settings) -> Path | None:
    """Where the catalog is kept between runs (None: an ephemeral server keeps nothing)."""
    return None if settings.ephemeral else settings.state_dir / "catalog.json"


class Catalog:
    def __init__(self, host: NodeDefinitions, cache_file: Path | None) -> None:
        self._host = host
        self._cache_file = cache_file
        self._entries: dict[str, CatalogEntryJson] = {}
        self.defs: dict[str, NodeDef] = {}
        self._lock = asyncio.Lock()
        self.ready = asyncio.Event()  # some catalog is held (saved or fresh)
        self.host_answered = False  # the node host has answered at least once

    def load_cached(self) -> bool:
        """Serve the catalog a previous run saved, until the node host answers."""
        if self._cache_file is None or not self._cache_file.is_file():
            return False
        try:
            entries = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("ignoring the saved node catalog %s: %s", self._cache_file, exc)
            return False
        self._set(entries)
        return True

    async def refresh(self) -> None:
        async with self._lock:
            entries = await asyncio.to_thread(self._host.catalog)
            self.host_answered = True
            self._set(entries)
            if self._cache_file is not None:
                await asyncio.to_thread(_write_atomic, self._cache_file, json.dumps(entries))

    def _set(self, entries: dict[str, CatalogEntryJson]) -> None:
        self._entries = entries
        self.defs = catalog_from_json(entries)
        self.ready.set()

    def object_info(self) -> dict[str, Any]:
        return {name: entry["object_info"] for name, entry in self._entries.items()}


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
