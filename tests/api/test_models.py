"""Model folder and metadata endpoints (http-api.md §5.5), on real files under tmp_path."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from impasto.config import Settings
from impasto.paths import model_folder_names
from tests.api.conftest import BOTH, Client, assert_error, open_image, png_bytes, raw


def safetensors(path: Path, metadata: dict[str, str] | None = None, *, header: bytes | None = None) -> Path:
    """A safetensors file: 8-byte little-endian header length, the JSON header, then (here, no) tensor data."""
    if header is None:
        content: dict[str, Any] = {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
        if metadata is not None:
            content["__metadata__"] = metadata
        header = json.dumps(content).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    return path


@pytest.fixture
def checkpoints(settings: Settings) -> Path:
    folder = settings.folders.models / "checkpoints"
    folder.mkdir(parents=True)
    return folder


# --- /models, /models/{folder}, /embeddings ---


@BOTH
async def test_models_lists_the_folder_names(plumbing_client: Client, settings: Settings, prefix: str) -> None:
    names = await (await plumbing_client.get(f"{prefix}/models")).json()
    assert names == model_folder_names(settings.folders)
    assert {"checkpoints", "loras", "vae", "embeddings"} <= set(names)


@BOTH
async def test_a_model_folder_lists_relative_slash_paths(
    plumbing_client: Client, checkpoints: Path, prefix: str
) -> None:
    for name in ("b.safetensors", "sd/a.ckpt", "notes.txt", ".hidden.safetensors"):
        (checkpoints / name).parent.mkdir(parents=True, exist_ok=True)
        (checkpoints / name).write_bytes(b"x")
    response = await plumbing_client.get(f"{prefix}/models/checkpoints")
    assert response.status == 200
    assert await response.json() == ["b.safetensors", "sd/a.ckpt"]


async def test_an_empty_model_folder_lists_nothing(plumbing_client: Client) -> None:
    assert await (await plumbing_client.get("/api/models/loras")).json() == []


@BOTH
@pytest.mark.parametrize("folder", ["nope", "unet", "..", "custom_nodes"])
async def test_an_unknown_model_folder_is_a_404(plumbing_client: Client, prefix: str, folder: str) -> None:
    await assert_error(await plumbing_client.get(f"{prefix}/models/{folder}"), 404)


@BOTH
async def test_embeddings_are_listed_without_extension(
    plumbing_client: Client, settings: Settings, prefix: str
) -> None:
    folder = settings.folders.models / "embeddings"
    (folder / "sub").mkdir(parents=True)
    (folder / "easy.pt").write_bytes(b"x")
    (folder / "sub" / "neg.safetensors").write_bytes(b"x")
    assert await (await plumbing_client.get(f"{prefix}/embeddings")).json() == ["easy", "sub/neg"]


# --- /view_metadata/{folder} ---


@BOTH
async def test_view_metadata_returns_the_metadata_object(
    plumbing_client: Client, checkpoints: Path, prefix: str
) -> None:
    safetensors(checkpoints / "sd" / "m.safetensors", {"ss_network_dim": "32", "modelspec.title": "M"})
    response = await plumbing_client.get(f"{prefix}/view_metadata/checkpoints", params={"filename": "sd/m.safetensors"})
    assert response.status == 200
    assert await response.json() == {"ss_network_dim": "32", "modelspec.title": "M"}


@pytest.mark.parametrize(
    ("folder", "filename"),
    [
        ("checkpoints", None),
        ("checkpoints", "m.ckpt"),
        ("checkpoints", "missing.safetensors"),
        ("nope", "m.safetensors"),
        ("checkpoints", "../loras/m.safetensors"),
        ("checkpoints", "/etc/m.safetensors"),
        ("checkpoints", "a\x00.safetensors"),
        ("checkpoints", "bare.safetensors"),
        ("checkpoints", "huge.safetensors"),
        ("checkpoints", "garbage.safetensors"),
        ("checkpoints", "short.safetensors"),
        ("checkpoints", "listmeta.safetensors"),
    ],
)
async def test_view_metadata_answers_404_when_there_is_none(
    plumbing_client: Client, checkpoints: Path, settings: Settings, folder: str, filename: str | None
) -> None:
    safetensors(checkpoints / "m.ckpt", {"a": "b"})
    safetensors(settings.folders.models / "loras" / "m.safetensors", {"a": "b"})
    safetensors(checkpoints / "bare.safetensors")
    safetensors(checkpoints / "garbage.safetensors", header=b"{not json")
    safetensors(checkpoints / "listmeta.safetensors", header=b'{"__metadata__": [1, 2]}')
    (checkpoints / "huge.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    (checkpoints / "short.safetensors").write_bytes(b"\x01\x02")
    params = {} if filename is None else {"filename": filename}
    await assert_error(await plumbing_client.get(f"/api/view_metadata/{folder}", params=params), 404)


# --- /experiment/models ---


@BOTH
async def test_experiment_models_lists_folders_with_their_paths(
    plumbing_client: Client, settings: Settings, prefix: str
) -> None:
    listing = await (await plumbing_client.get(f"{prefix}/experiment/models")).json()
    by_name = {entry["name"]: entry for entry in listing}
    assert "configs" not in by_name
    assert "custom_nodes" not in by_name
    assert by_name["checkpoints"] == {"name": "checkpoints", "folders": [str(settings.folders.models / "checkpoints")]}
    assert by_name["text_encoders"]["folders"] == [
        str(settings.folders.models / "text_encoders"),
        str(settings.folders.models / "clip"),
    ]


@BOTH
async def test_experiment_model_files_carry_index_times_and_size(
    plumbing_client: Client, settings: Settings, prefix: str
) -> None:
    encoders = settings.folders.models / "text_encoders"
    clip = settings.folders.models / "clip"
    (encoders / "sub").mkdir(parents=True)
    clip.mkdir(parents=True)
    (encoders / "sub" / "t5.safetensors").write_bytes(b"12345")
    (encoders / ".git").mkdir()
    (encoders / ".git" / "x.safetensors").write_bytes(b"x")
    (encoders / "readme.md").write_bytes(b"x")
    (clip / "l.pt").write_bytes(b"12")
    listing = await (await plumbing_client.get(f"{prefix}/experiment/models/text_encoders")).json()
    stat = (encoders / "sub" / "t5.safetensors").stat()
    assert listing == [
        {"name": "sub/t5.safetensors", "pathIndex": 0, "modified": stat.st_mtime, "created": stat.st_ctime, "size": 5},
        {
            "name": "l.pt",
            "pathIndex": 1,
            "modified": (clip / "l.pt").stat().st_mtime,
            "created": (clip / "l.pt").stat().st_ctime,
            "size": 2,
        },
    ]


async def test_experiment_model_files_survive_a_link_cycle(plumbing_client: Client, checkpoints: Path) -> None:
    (checkpoints / "a.safetensors").write_bytes(b"x")
    (checkpoints / "loop").symlink_to(checkpoints, target_is_directory=True)
    listing = await (await plumbing_client.get("/api/experiment/models/checkpoints")).json()
    assert [e["name"] for e in listing] == ["a.safetensors"]


async def test_experiment_models_of_an_unknown_folder_is_a_404(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.get("/api/experiment/models/nope"), 404)


# --- /experiment/models/preview/{folder}/{path_index}/{filename} ---


@BOTH
@pytest.mark.parametrize("preview_name", ["m.png", "m.preview.jpeg", "m.webp"])
async def test_preview_serves_the_image_next_to_the_model_as_webp(
    plumbing_client: Client, checkpoints: Path, prefix: str, preview_name: str
) -> None:
    (checkpoints / "sd").mkdir()
    (checkpoints / "sd" / "m.safetensors").write_bytes(b"x")
    (checkpoints / "sd" / preview_name).write_bytes(png_bytes((5, 4), mode="RGB", color=(1, 2, 3)))
    response = await plumbing_client.get(f"{prefix}/experiment/models/preview/checkpoints/0/sd/m.safetensors")
    assert response.status == 200
    assert response.content_type == "image/webp"
    img = open_image(await response.read())
    assert (img.format, img.size) == ("WEBP", (5, 4))


async def test_preview_prefers_the_plain_name_over_dot_preview(plumbing_client: Client, checkpoints: Path) -> None:
    (checkpoints / "m.ckpt").write_bytes(b"x")
    (checkpoints / "m.preview.png").write_bytes(png_bytes((2, 2)))
    (checkpoints / "m.png").write_bytes(png_bytes((3, 3)))
    response = await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/m.ckpt")
    assert open_image(await response.read()).size == (3, 3)


async def test_preview_falls_back_to_a_cover_image_in_the_metadata(plumbing_client: Client, checkpoints: Path) -> None:
    cover = base64.b64encode(png_bytes((6, 2))).decode()
    safetensors(checkpoints / "m.safetensors", {"ssmd_cover_images": json.dumps([cover])})
    response = await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/m.safetensors")
    assert response.status == 200
    assert open_image(await response.read()).size == (6, 2)


@pytest.mark.parametrize(
    "metadata",
    [None, {"ssmd_cover_images": "not json"}, {"ssmd_cover_images": "[]"}, {"ssmd_cover_images": '["@@@"]'}],
)
async def test_preview_without_an_image_is_a_404(
    plumbing_client: Client, checkpoints: Path, metadata: dict[str, str] | None
) -> None:
    safetensors(checkpoints / "m.safetensors", metadata)
    (checkpoints / "m.txt").write_bytes(b"not an image")
    await assert_error(await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/m.safetensors"), 404)


async def test_a_preview_that_is_not_an_image_is_a_404(plumbing_client: Client, checkpoints: Path) -> None:
    (checkpoints / "m.ckpt").write_bytes(b"x")
    (checkpoints / "m.png").write_bytes(b"not a png")
    await assert_error(await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/m.ckpt"), 404)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/experiment/models/preview/nope/0/m.ckpt", 404),
        ("/api/experiment/models/preview/checkpoints/x/m.ckpt", 400),
        ("/api/experiment/models/preview/checkpoints/1/m.ckpt", 404),
        ("/api/experiment/models/preview/checkpoints/-1/m.ckpt", 404),
        ("/api/experiment/models/preview/checkpoints/0/", 400),
        ("/api/experiment/models/preview/checkpoints/0/../../../secret.txt", 403),
        ("/api/experiment/models/preview/checkpoints/0/..%2F..%2F..%2Fsecret", 403),
        ("/api/experiment/models/preview/checkpoints/0/%2Fetc%2Fpasswd", 403),
        ("/api/experiment/models/preview/checkpoints/0/a%00b", 400),
    ],
)
async def test_bad_preview_requests(plumbing_client: Client, checkpoints: Path, path: str, status: int) -> None:
    await assert_error(await raw(plumbing_client, "GET", path), status)


async def test_a_preview_linked_from_outside_is_a_403(
    plumbing_client: Client, checkpoints: Path, outside: Path
) -> None:
    (outside / "m.png").write_bytes(png_bytes())
    (checkpoints / "m.ckpt").write_bytes(b"x")
    (checkpoints / "m.png").symlink_to(outside / "m.png")
    await assert_error(await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/m.ckpt"), 403)


async def test_a_model_folder_linked_from_outside_is_a_403(
    plumbing_client: Client, checkpoints: Path, outside: Path
) -> None:
    (outside / "m.png").write_bytes(png_bytes())
    (checkpoints / "ext").symlink_to(outside, target_is_directory=True)
    await assert_error(await plumbing_client.get("/api/experiment/models/preview/checkpoints/0/ext/m.ckpt"), 403)
