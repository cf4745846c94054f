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


def test_the_node_catalog_is_built_without_importing_torch():
    # What the node host does on a first start: import the built-in nodes and describe them.
    code = (
        "import sys\n"
        "from impasto.workers.child import core_registry\n"
        "entries = core_registry().catalog_entries()\n"
        "print(len(entries), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    count, torch_loaded = out.split()
    assert int(count) > 20 and torch_loaded == "False"


def test_a_lazily_bound_module_works_as_the_real_one():
    code = (
        "import sys\n"
        "from impasto.nodes import image\n"
        "assert 'torch' not in sys.modules\n"
        "out = image.EmptyImage().generate(8, 4, 2, 0xFF0000)[0]\n"
        "import torch\n"
        "assert isinstance(out, torch.Tensor) and out.shape == (2, 4, 8, 3)\n"
        "assert image.torch.float32 is torch.float32\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"
