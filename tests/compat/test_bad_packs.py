"""Packs that are broken in the ways real packs break (node-api.md §3): the server starts, says what is wrong
with each, and serves everything else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.compat.client import run_all
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow


def node(name: str, body: str = "", function: str = "run", text: str = "ok") -> str:
    return f'''
class {name}:
    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{}}}}

    RETURN_TYPES = ()
    FUNCTION = "{function}"
    OUTPUT_NODE = True
{body}
    def run(self):
        return {{"ui": {{"text": ["{text}"]}}}}
'''


PACKS = {
    "a_raises_at_import.py": "raise RuntimeError('this pack cannot load')\n",
    "b_no_input_types.py": textwrap.dedent("""
        class NoInputTypes:
            RETURN_TYPES = ()
            FUNCTION = "run"

            def run(self):
                return ()
        """)
    + node("GoodInB")
    + 'NODE_CLASS_MAPPINGS = {"NoInputTypes": NoInputTypes, "GoodInB": GoodInB}\n',
    "c_missing_function.py": node("MissingFunction", function="does_not_exist")
    + 'NODE_CLASS_MAPPINGS = {"MissingFunction": MissingFunction}\n',
    "d_input_types_raises.py": textwrap.dedent("""
        class InputTypesRaises:
            @classmethod
            def INPUT_TYPES(cls):
                raise KeyError("no such folder")

            RETURN_TYPES = ()
            FUNCTION = "run"

            def run(self):
                return ()

        NODE_CLASS_MAPPINGS = {"InputTypesRaises": InputTypesRaises}
        """),
    "e_dup_first.py": node("Dup", text="first") + 'NODE_CLASS_MAPPINGS = {"Dup": Dup}\n',
    "f_dup_second.py": node("Dup", text="second")
    + node("OnlyInSecond")
    + 'NODE_CLASS_MAPPINGS = {"Dup": Dup, "OnlyInSecond": OnlyInSecond, "SaveImage": Dup}\n',
    "g_exports_nothing.py": "VALUE = 1\n",
}

PRESTARTUP_PACK = {
    "prestartup_script.py": "import os\nos.environ['IMPASTO_TEST_PRESTARTUP'] = 'ran'\n",
    "__init__.py": node("SawPrestartup", text="{os.environ.get('IMPASTO_TEST_PRESTARTUP')}")
    .replace('["{os', '[f"{os')
    .replace("class SawPrestartup", "import os\n\n\nclass SawPrestartup")
    + 'NODE_CLASS_MAPPINGS = {"SawPrestartup": SawPrestartup}\n',
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base: Path = tmp_path_factory.mktemp("bad-packs")
    custom = base / "custom_nodes"
    custom.mkdir()
    for name, source in PACKS.items():
        (custom / name).write_text(source)
    (custom / "h_prestartup").mkdir()
    for name, source in PRESTARTUP_PACK.items():
        (custom / "h_prestartup" / name).write_text(source)
    process = ServerProcess(base).start()
    yield process
    process.stop()


def test_the_server_serves_every_node_that_could_be_loaded(server):
    status, info = server.request("GET", "/object_info")
    assert status == 200
    assert {"GoodInB", "Dup", "OnlyInSecond", "SawPrestartup"} <= set(info)
    assert not {"NoInputTypes", "MissingFunction", "InputTypesRaises"} & set(info)
    assert info["Dup"]["python_module"] == "custom_nodes.e_dup_first"  # the first pack in name order wins
    assert info["SaveImage"]["python_module"] == "nodes"  # a core node is never replaced


def test_the_first_of_two_duplicate_classes_runs(server):
    first, prestartup = run_all(
        server.url, [{"1": {"class_type": "Dup", "inputs": {}}}, {"1": {"class_type": "SawPrestartup", "inputs": {}}}]
    )
    assert first.outputs()["1"] == {"text": ["first"]}
    assert prestartup.outputs()["1"] == {"text": ["ran"]}  # the prestartup script ran before the pack's import


def test_an_unloadable_class_is_a_clear_400_not_a_500(server):
    for class_type in ("NoInputTypes", "InputTypesRaises"):
        status, body = server.request("POST", "/prompt", {"prompt": {"1": {"class_type": class_type, "inputs": {}}}})
        assert status == 400 and body["error"]["type"] == "missing_node_type", body


def test_the_log_names_each_problem_and_summarises_import_times(server):
    log = server.log()
    assert "custom nodes a_raises_at_import failed to import and are skipped" in log
    assert "RuntimeError: this pack cannot load" in log and "Traceback" in log
    assert "node class 'NoInputTypes' skipped: it has no callable INPUT_TYPES" in log
    assert "node class 'MissingFunction' skipped: its FUNCTION 'does_not_exist' is not a method" in log
    assert "node class 'InputTypesRaises' left out of object_info" in log
    assert "custom nodes f_dup_second: node class 'Dup' is already defined by custom nodes e_dup_first" in log
    assert "custom nodes f_dup_second: node class 'SaveImage' is already defined by a core node" in log
    assert "custom nodes g_exports_nothing export neither NODE_CLASS_MAPPINGS nor comfy_entrypoint" in log
    assert "Import times for custom nodes:" in log
    assert "(IMPORT FAILED) a_raises_at_import" in log
    assert "f_dup_second  (1 nodes)" in log
