"""The folder layout and name resolution of impasto.paths."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from impasto import paths
from impasto.paths import Folders, PathEscapeError, SavePath

NOON = time.struct_time((2024, 3, 7, 9, 5, 2, 3, 67, 0))


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_from_base_uses_comfyui_folder_names(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    assert folders.base == tmp_path
    assert (folders.input, folders.output, folders.temp, folders.user) == (
        tmp_path / "input",
        tmp_path / "output",
        tmp_path / "temp",
        tmp_path / "user",
    )
    assert folders.models == tmp_path / "models"
    assert folders.custom_nodes == (tmp_path / "custom_nodes",)
    models = tmp_path / "models"
    assert folders.model_folders["text_encoders"] == (models / "text_encoders", models / "clip")
    assert folders.model_folders["diffusion_models"] == (models / "unet", models / "diffusion_models")
    for name in ("checkpoints", "loras", "vae", "embeddings", "upscale_models", "clip_vision", "configs", "vae_approx"):
        assert folders.model_folders[name] == (models / name,)
    assert folders.model_folders["controlnet"][0] == models / "controlnet"


def test_from_base_overrides_and_normalizes(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path / "a" / "..", input=tmp_path / "in", output="out", temp=tmp_path / "t")
    assert folders.base == tmp_path
    assert folders.input == tmp_path / "in"
    assert folders.output == Path.cwd() / "out"
    assert folders.temp == tmp_path / "t"
    assert folders.user == tmp_path / "user"


def test_folders_are_hashable_and_compare_by_value(tmp_path: Path) -> None:
    assert hash(Folders.from_base(tmp_path)) == hash(Folders.from_base(tmp_path))
    assert Folders.from_base(tmp_path) == Folders.from_base(tmp_path)
    assert Folders.from_base(tmp_path) != Folders.from_base(tmp_path).with_model_paths("loras", [tmp_path])


def test_model_folders_cannot_be_mutated(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    with pytest.raises(TypeError):
        folders.model_folders["loras"] = ()


def test_with_model_paths_appends_prepends_and_keeps_the_original(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    extra = tmp_path / "extra"
    appended = folders.with_model_paths("loras", [extra])
    assert appended.model_folders["loras"] == (tmp_path / "models" / "loras", extra)
    assert folders.model_folders["loras"] == (tmp_path / "models" / "loras",)
    first = appended.with_model_paths("loras", [extra], first=True)
    assert first.model_folders["loras"] == (extra, tmp_path / "models" / "loras")
    again = appended.with_model_paths("loras", [extra])
    assert again.model_folders["loras"] == appended.model_folders["loras"]


def test_with_model_paths_maps_legacy_names_and_custom_nodes(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path).with_model_paths("clip", [tmp_path / "c"])
    assert folders.model_folders["text_encoders"][-1] == tmp_path / "c"
    assert "clip" not in folders.model_folders
    folders = folders.with_model_paths("unet", [tmp_path / "u"])
    assert folders.model_folders["diffusion_models"][-1] == tmp_path / "u"
    folders = folders.with_model_paths("custom_nodes", [tmp_path / "packs"])
    assert folders.custom_nodes == (tmp_path / "custom_nodes", tmp_path / "packs")


def test_ensure_creates_the_working_folders(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path / "base")
    folders.ensure()
    for folder in (folders.input, folders.output, folders.temp, folders.user):
        assert folder.is_dir()
    folders.ensure()  # idempotent


def test_filename_list_is_recursive_sorted_filtered_and_deduplicated(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    unet, diffusion = folders.model_folders["diffusion_models"]
    touch(unet / "b.safetensors")
    touch(unet / "sub" / "deep" / "a.SFT")
    touch(unet / "notes.txt")
    touch(unet / ".hidden.safetensors")
    touch(unet / ".cache" / "c.safetensors")
    touch(diffusion / "b.safetensors")
    touch(diffusion / "z.pt2")
    assert paths.filename_list(folders, "diffusion_models") == ["b.safetensors", "sub/deep/a.SFT", "z.pt2"]
    assert paths.filename_list(folders, "unet") == paths.filename_list(folders, "diffusion_models")


def test_filename_list_extension_sets(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    configs = folders.model_folders["configs"][0]
    touch(configs / "v1.yaml")
    touch(configs / "v1.ckpt")
    assert paths.filename_list(folders, "configs") == ["v1.yaml"]
    checkpoints = folders.model_folders["checkpoints"][0]
    for ext in (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft", ".yaml", ".png"):
        touch(checkpoints / f"m{ext}")
    assert paths.filename_list(folders, "checkpoints") == sorted(
        f"m{ext}" for ext in (".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft")
    )


def test_filename_list_of_missing_or_unknown_folders_is_empty(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    assert paths.filename_list(folders, "loras") == []
    assert paths.filename_list(folders, "no_such_folder") == []


def test_filename_list_of_an_added_folder_lists_every_file(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path).with_model_paths("sams", [tmp_path / "sams"])
    touch(tmp_path / "sams" / "a.onnx")
    assert paths.filename_list(folders, "sams") == ["a.onnx"]


def test_filename_list_survives_a_symlink_cycle(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    loras = folders.model_folders["loras"][0]
    touch(loras / "sub" / "a.safetensors")
    os.symlink(loras, loras / "sub" / "loop")
    assert paths.filename_list(folders, "loras") == ["sub/a.safetensors"]


def test_full_path_searches_in_order_and_refuses_escapes(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    encoders, clip = folders.model_folders["text_encoders"]
    touch(clip / "t5.safetensors")
    touch(clip / "sub" / "x.pt")
    assert paths.full_path(folders, "text_encoders", "t5.safetensors") == clip / "t5.safetensors"
    touch(encoders / "t5.safetensors")
    assert paths.full_path(folders, "clip", "t5.safetensors") == encoders / "t5.safetensors"
    assert paths.full_path(folders, "text_encoders", "sub/x.pt") == clip / "sub" / "x.pt"
    assert paths.full_path(folders, "text_encoders", "missing.pt") is None
    assert paths.full_path(folders, "no_such_folder", "t5.safetensors") is None
    touch(tmp_path / "models" / "secret.pt")
    assert paths.full_path(folders, "text_encoders", "../secret.pt") is None
    assert paths.full_path(folders, "text_encoders", "sub/../../secret.pt") is None
    assert paths.full_path(folders, "text_encoders", str(tmp_path / "models" / "secret.pt")) is None
    assert paths.full_path(folders, "text_encoders", "sub") is None  # a folder is not a file


def test_input_images_lists_image_files_directly_in_input(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    for name in ("b.png", "a.JPG", "c.webp", "d.gif", "notes.txt", "model.safetensors", "noext"):
        touch(folders.input / name)
    touch(folders.input / "sub" / "nested.png")
    (folders.input / "dir.png").mkdir()
    assert paths.input_images(folders) == ["a.JPG", "b.png", "c.webp", "d.gif"]


def test_input_images_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert paths.input_images(Folders.from_base(tmp_path)) == []


def test_annotated_path_selects_the_folder(tmp_path: Path) -> None:
    folders = Folders.from_base(tmp_path)
    assert paths.annotated_path(folders, "a.png") == folders.input / "a.png"
    assert paths.annotated_path(folders, "a.png [output]") == folders.output / "a.png"
    assert paths.annotated_path(folders, "a.png [input]", default="output") == folders.input / "a.png"
    assert paths.annotated_path(folders, "sub/a.png [temp]") == folders.temp / "sub" / "a.png"
    assert paths.annotated_path(folders, "a.png", default="temp") == folders.temp / "a.png"
    assert paths.annotated_path(folders, "a.png[output]") == folders.input / "a.png[output]"


@pytest.mark.parametrize("name", ["../a.png", "sub/../../a.png [output]", "/etc/passwd", "../input2/x.png"])
def test_annotated_path_refuses_escapes(tmp_path: Path, name: str) -> None:
    with pytest.raises(PathEscapeError) as info:
        paths.annotated_path(Folders.from_base(tmp_path), name)
    assert info.value.name == name
    assert isinstance(info.value, ValueError)


def test_save_path_starts_at_one_and_creates_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "output"
    result = paths.save_path(out, "ComfyUI", 64, 32)
    assert result == SavePath(folder=out, filename="ComfyUI", counter=1, subfolder="", prefix="ComfyUI")
    assert out.is_dir()


def test_save_path_continues_after_the_highest_existing_counter(tmp_path: Path) -> None:
    out = tmp_path / "output"
    for name in ("ComfyUI_00001_.png", "ComfyUI_00007_.png", "ComfyUI_00003_.webp", "ComfyUI_00012"):
        touch(out / name)
    for name in ("ComfyUI_x_00099_.png", "ComfyUIx_00050_.png", "Other_00042_.png", "ComfyUI_abc_.png"):
        touch(out / name)
    assert paths.save_path(out, "ComfyUI", 1, 1).counter == 13


def test_save_path_counter_ignores_non_numeric_matches(tmp_path: Path) -> None:
    out = tmp_path / "output"
    touch(out / "ComfyUI_abc_.png")
    touch(out / "ComfyUI_00005.png")  # digits must be followed by "_" or the end of the name
    assert paths.save_path(out, "ComfyUI", 1, 1).counter == 1


def test_save_path_subfolder(tmp_path: Path) -> None:
    out = tmp_path / "output"
    touch(out / "runs" / "day" / "img_00004_.png")
    result = paths.save_path(out, "runs/day/img", 8, 8)
    assert result == SavePath(
        folder=out / "runs" / "day", filename="img", counter=5, subfolder="runs/day", prefix="runs/day/img"
    )
    inner = paths.save_path(out, "runs/../flat", 8, 8)
    assert (inner.folder, inner.subfolder, inner.filename) == (out, "", "flat")


def test_save_path_replaces_tokens(tmp_path: Path) -> None:
    out = tmp_path / "output"
    prefix = "%year%-%month%-%day%/%hour%%minute%%second%_%width%x%height%"
    result = paths.save_path(out, prefix, 640, 480, now=NOON)
    assert result.subfolder == "2024-03-07"
    assert result.filename == "090502_640x480"
    assert result.prefix == "2024-03-07/090502_640x480"
    assert result.folder == out / "2024-03-07"


def test_save_path_counts_batch_num_files(tmp_path: Path) -> None:
    out = tmp_path / "output"
    touch(out / "b_0_00002_.png")
    touch(out / "b_1_00003_.png")
    result = paths.save_path(out, "b_%batch_num%", 1, 1)
    assert (result.filename, result.counter) == ("b_%batch_num%", 4)


@pytest.mark.parametrize("prefix", ["../evil", "a/../../evil", "/tmp/evil", "%width%/../../x"])
def test_save_path_refuses_escapes(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(PathEscapeError) as info:
        paths.save_path(tmp_path / "output", prefix, 1, 1)
    assert info.value.name == prefix
    assert not (tmp_path / "evil").exists()


def test_folder_extensions() -> None:
    assert paths.folder_extensions("configs") == frozenset({".yaml"})
    assert paths.folder_extensions("clip") == paths.MODEL_EXTENSIONS
    assert paths.folder_extensions("something_new") is None


def test_folders_survive_pickling_for_spawned_workers(tmp_path):
    import pickle

    folders = Folders.from_base(tmp_path).with_model_paths("checkpoints", [tmp_path / "more"])
    assert pickle.loads(pickle.dumps(folders)) == folders
