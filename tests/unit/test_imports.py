"""The server side and the engine never import torch or numpy (STYLE.md §1)."""

import subprocess
import sys

import pytest

TORCH_FREE = [
    "impasto",
    "impasto.paths",
    "impasto.protocol.events",
    "impasto.protocol.errors",
    "impasto.protocol.prompt",
    "impasto.protocol.progress",
    "impasto.graph.validate",
    "impasto.graph.signature",
    "impasto.graph.expansion",
    "impasto.engine.runner",
    "impasto.engine.validation",
    "impasto.engine.registry",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch_or_numpy(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
