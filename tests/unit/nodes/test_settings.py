"""The per-process node settings."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

import impasto.paths
from impasto.nodes import settings
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders


def test_configure_replaces_current(tmp_path: Path, configure_nodes: Callable[[NodeSettings], None]) -> None:
    chosen = NodeSettings(Folders.from_base(tmp_path), disable_metadata=True)
    configure_nodes(chosen)
    assert settings.current() is chosen


def test_default_is_the_layout_under_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "_current", None)
    monkeypatch.chdir(tmp_path)
    default = settings.current()
    assert default.folders == Folders.from_base(tmp_path)
    assert default.disable_metadata is False


@pytest.mark.parametrize("module", [impasto.paths, settings])
def test_torch_free_modules_import_neither_torch_nor_numpy(module: object) -> None:
    source = Path(getattr(module, "__file__", "")).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"torch", "numpy", "PIL"}
