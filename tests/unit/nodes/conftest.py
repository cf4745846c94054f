"""Fixtures for the built-in nodes: node settings on a temporary base folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders


@pytest.fixture
def folders(tmp_path: Path, configure_nodes: Callable[[NodeSettings], None]) -> Folders:
    """Node settings on `tmp_path`, with the input, output, temp and user folders created."""
    layout = Folders.from_base(tmp_path)
    layout.ensure()
    configure_nodes(NodeSettings(layout))
    return layout
