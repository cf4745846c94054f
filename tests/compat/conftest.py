"""Fixtures for the compatibility modules: packs written to a custom_nodes folder and loaded by the real loader."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from impasto.compat.loader import PackResult, load_custom_nodes
from impasto.engine.cache import CacheSettings
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders
from impasto.workers.child import core_registry
from tests.conftest import Harness


@dataclass
class LoadedPacks:
    harness: Harness
    results: list[PackResult]
    folders: Folders


@pytest.fixture
def load_packs(tmp_path: Path, configure_nodes: Callable[[NodeSettings], None]) -> Callable[..., LoadedPacks]:
    """Write `{name: source}` packs under `<tmp>/base/custom_nodes` and load them with the built-in nodes."""

    def load(packs: dict[str, str], cache: CacheSettings | None = None) -> LoadedPacks:
        folders = Folders.from_base(tmp_path / "base")
        folders.ensure()
        configure_nodes(NodeSettings(folders))
        shim = sys.modules.get("impasto.compat.shims.folder_paths")
        if shim is not None:
            importlib.reload(shim)  # its registry is read from the configured folders when it is first imported
        custom = folders.custom_nodes[0]
        custom.mkdir(parents=True, exist_ok=True)
        for name, source in packs.items():
            (custom / f"{name}.py").write_text(textwrap.dedent(source))
        registry = core_registry()
        results = load_custom_nodes(folders.custom_nodes, registry)
        return LoadedPacks(Harness(registry, cache or CacheSettings()), results, folders)

    return load
