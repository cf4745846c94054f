"""`folder_paths` as packs use it (node-api.md §4.8): the registry comes from the configured folder layout."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders


@pytest.fixture
def fp(tmp_path: Path, configure_nodes):
    folders = Folders.from_base(tmp_path / "base", output=tmp_path / "out")
    folders = folders.with_model_paths("checkpoints", [tmp_path / "extra_ckpts"])
    folders.ensure()
    configure_nodes(NodeSettings(folders))
    from impasto.compat.shims import folder_paths

    return importlib.reload(folder_paths)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_directories_come_from_the_configured_layout(fp, tmp_path):
    base = tmp_path / "base"
    assert fp.get_output_directory() == str(tmp_path / "out")
    assert fp.get_input_directory() == str(base / "input")
    assert fp.get_temp_directory() == str(base / "temp")
    assert fp.models_dir == str(base / "models")
    assert fp.get_folder_paths("checkpoints") == [str(base / "models" / "checkpoints"), str(tmp_path / "extra_ckpts")]
    assert fp.get_folder_paths("custom_nodes") == [str(base / "custom_nodes")]
    assert fp.get_folder_paths("unet") == fp.get_folder_paths("diffusion_models")  # legacy name
    with pytest.raises(KeyError):
        fp.get_folder_paths("no_such_folder")


def test_file_lists_filter_by_extension_and_see_new_files_at_once(fp, tmp_path):
    models = tmp_path / "base" / "models" / "checkpoints"
    touch(models / "b.safetensors")
    touch(models / "sub" / "a.ckpt")
    touch(models / "notes.txt")
    touch(models / ".hidden.safetensors")
    touch(tmp_path / "extra_ckpts" / "c.pt")
    assert fp.get_filename_list("checkpoints") == ["b.safetensors", "c.pt", "sub/a.ckpt"]
    touch(models / "d.sft")
    assert "d.sft" in fp.get_filename_list("checkpoints")
    assert fp.get_full_path("checkpoints", "sub/a.ckpt") == str(models / "sub" / "a.ckpt")
    assert fp.get_full_path("checkpoints", "c.pt") == str(tmp_path / "extra_ckpts" / "c.pt")
    assert fp.get_full_path("checkpoints", "missing.pt") is None
    assert fp.get_full_path("checkpoints", "../../../etc/passwd") is None
    assert fp.get_full_path("checkpoints", str(models / "b.safetensors")) is None  # absolute names are refused
    with pytest.raises(FileNotFoundError):
        fp.get_full_path_or_raise("checkpoints", "missing.pt")


def test_a_pack_adds_a_folder_of_its_own(fp, tmp_path):
    mine = tmp_path / "my_models"
    touch(mine / "m.onnx")
    fp.add_model_folder_path("my_models", str(mine))
    assert fp.get_filename_list("my_models") == ["m.onnx"]  # a new folder accepts any extension
    fp.folder_names_and_paths["detectors"] = ([str(mine)], {".pt"})
    assert fp.get_filename_list("detectors") == []
    first = tmp_path / "first"
    fp.add_model_folder_path("checkpoints", str(first), is_default=True)
    assert fp.get_folder_paths("checkpoints")[0] == str(first)


def test_annotated_names_resolve_in_their_folder(fp, tmp_path):
    base = tmp_path / "base"
    assert fp.annotated_filepath("a.png [output]") == ("a.png", str(tmp_path / "out"))
    assert fp.annotated_filepath("a.png") == ("a.png", None)
    assert fp.get_annotated_filepath("a.png [temp]") == os.path.join(base / "temp", "a.png")
    assert fp.get_annotated_filepath("a.png") == os.path.join(base / "input", "a.png")
    assert fp.get_annotated_filepath("a.png", str(tmp_path)) == os.path.join(tmp_path, "a.png")
    assert fp.exists_annotated_filepath("a.png") is False
    touch(base / "input" / "a.png")
    assert fp.exists_annotated_filepath("a.png") is True


def test_save_image_paths_count_up_and_stay_inside_the_output_folder(fp, tmp_path):
    out = tmp_path / "out"
    folder, filename, counter, subfolder, prefix = fp.get_save_image_path("shots/run", str(out), 64, 32)
    assert (folder, filename, counter, subfolder, prefix) == (str(out / "shots"), "run", 1, "shots", "shots/run")
    touch(out / "shots" / "run_00007_.png")
    assert fp.get_save_image_path("shots/run", str(out))[2] == 8
    assert fp.get_save_image_path("img_%width%x%height%", str(out), 64, 32)[1] == "img_64x32"
    with pytest.raises(ValueError, match="outside the output folder"):
        fp.get_save_image_path("../escape", str(out))
