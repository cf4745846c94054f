"""Model folders and files: /models, /embeddings, /view_metadata, /experiment/models... (http-api.md §5.5).

The safetensors header is read here directly (8-byte little-endian length, then JSON), so the server needs
neither the safetensors package nor torch.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import mimetypes
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image

from impasto.paths import MODEL_EXTENSIONS, Folders, filename_list, full_path, model_folder_names
from impasto.server.errors import error
from impasto.server.keys import SETTINGS
from impasto.server.routing import add_routes

routes = web.RouteTableDef()

# ComfyUI leaves these out of /experiment/models: they hold no model files.
_NOT_MODEL_FOLDERS = frozenset({"configs", "custom_nodes"})
_METADATA_HEADER_LIMIT = 1024 * 1024
_PREVIEW_HEADER_LIMIT = 8 * 1024 * 1024
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def setup(app: web.Application) -> None:
    add_routes(app, routes)


def safetensors_header(path: Path, max_size: int) -> dict[str, Any] | None:
    """The JSON header of a safetensors file, or None when it is unreadable, malformed or over `max_size`."""
    try:
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) != 8:
                return None
            (length,) = struct.unpack("<Q", prefix)
            if length > max_size:
                return None
            raw = f.read(length)
    except OSError:
        return None
    if len(raw) != length:
        return None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _folders(request: web.Request) -> Folders:
    return request.app[SETTINGS].folders


def _known(folders: Folders, folder: str) -> tuple[Path, ...]:
    if folder not in folders.model_folders:
        raise error(404, f"unknown model folder {folder!r}")
    return folders.model_folders[folder]


@routes.get("/models")
async def list_model_types(request: web.Request) -> web.Response:
    return web.json_response(model_folder_names(_folders(request)))


@routes.get("/models/{folder}")
async def list_models(request: web.Request) -> web.Response:
    folders, folder = _folders(request), request.match_info["folder"]
    _known(folders, folder)
    return web.json_response(await asyncio.to_thread(filename_list, folders, folder))


@routes.get("/embeddings")
async def list_embeddings(request: web.Request) -> web.Response:
    names = await asyncio.to_thread(filename_list, _folders(request), "embeddings")
    return web.json_response([os.path.splitext(name)[0] for name in names])


def _metadata(folders: Folders, folder: str, filename: str) -> dict[str, Any]:
    path = full_path(folders, folder, filename)
    if path is None:
        raise error(404, "model file not found")
    header = safetensors_header(path, _METADATA_HEADER_LIMIT)
    metadata = None if header is None else header.get("__metadata__")
    if not isinstance(metadata, dict):
        raise error(404, "the file has no safetensors metadata")
    return metadata


@routes.get("/view_metadata/{folder}")
async def view_metadata(request: web.Request) -> web.Response:
    filename = request.query.get("filename")
    if filename is None or not filename.endswith(".safetensors"):
        raise error(404, "filename must name a .safetensors file")
    folder = request.match_info["folder"]
    return web.json_response(await asyncio.to_thread(_metadata, _folders(request), folder, filename))


@routes.get("/experiment/models")
async def list_model_folders(request: web.Request) -> web.Response:
    folders = _folders(request)
    return web.json_response(
        [
            {"name": name, "folders": [str(p) for p in paths]}
            for name, paths in folders.model_folders.items()
            if name not in _NOT_MODEL_FOLDERS
        ]
    )


def _walk_models(root: Path) -> Iterator[str]:
    """Relative POSIX names of model files under `root`: links followed, hidden names and `.git` skipped."""
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        kept = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            # A link back to a folder already walked would loop forever.
            if not d.startswith(".") and real not in seen:
                seen.add(real)
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS:
                yield os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")


def _model_files(paths: tuple[Path, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, root in enumerate(paths):
        if not root.is_dir():
            continue
        for relative in _walk_models(root):
            try:
                st = os.stat(root / relative)
            except OSError:
                continue  # vanished or a dangling link: nothing to report about it
            out.append(
                {
                    "name": relative,
                    "pathIndex": index,
                    "modified": st.st_mtime,
                    "created": st.st_ctime,
                    "size": st.st_size,
                }
            )
    return out


@routes.get("/experiment/models/{folder}")
async def list_model_files(request: web.Request) -> web.Response:
    paths = _known(_folders(request), request.match_info["folder"])
    return web.json_response(await asyncio.to_thread(_model_files, paths))


def _is_image_name(name: str) -> bool:
    mime = "image/webp" if name.lower().endswith(".webp") else mimetypes.guess_type(name)[0]
    return mime is not None and mime.startswith("image/")


def _inside(path: str | Path, real_root: str) -> bool:
    return os.path.commonpath((real_root, os.path.realpath(path))) == real_root


def _preview_source(model: Path, root: Path) -> Path | bytes | None:
    """A preview image file next to the model, or the first cover image embedded in its safetensors metadata."""
    directory = model.parent
    real_root = os.path.realpath(root)
    if not _inside(directory, real_root):
        raise error(403, "the model's folder is outside the model folder")
    if not directory.is_dir():
        return None
    stem = os.path.splitext(model.name)[0]
    names = sorted(os.listdir(directory))
    # `<stem>.<image ext>` first, then `<stem>.preview.<image ext>`.
    for wanted in (stem, stem + ".preview"):
        for name in names:
            candidate = directory / name
            if os.path.splitext(name)[0] == wanted and _is_image_name(name) and candidate.is_file():
                if not _inside(candidate, real_root):
                    raise error(403, "the preview image is outside the model folder")
                return candidate
    tensors = model if model.name.endswith(".safetensors") else directory / (stem + ".safetensors")
    if not tensors.is_file() or not _inside(tensors, real_root):
        return None
    return _cover_image(safetensors_header(tensors, _PREVIEW_HEADER_LIMIT))


def _cover_image(header: dict[str, Any] | None) -> bytes | None:
    """The first of the base64 images in `__metadata__.ssmd_cover_images` (a JSON list in a string)."""
    metadata = header.get("__metadata__") if header is not None else None
    covers = metadata.get("ssmd_cover_images") if isinstance(metadata, dict) else None
    if not isinstance(covers, str):
        return None
    try:
        images = json.loads(covers)
        if isinstance(images, list) and images and isinstance(images[0], str):
            return base64.b64decode(images[0])
    except (json.JSONDecodeError, binascii.Error):
        pass
    return None


def _preview(root: Path, filename: str) -> bytes:
    if "\0" in filename:
        raise error(400, "filename must not contain a NUL byte")
    model = os.path.normpath(os.path.join(root, filename))
    base = os.path.abspath(root)
    if os.path.commonpath((base, os.path.abspath(model))) != base:
        raise error(403, "filename is outside the model folder")
    source = _preview_source(Path(model), root)
    if source is None:
        raise error(404, "no preview image")
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            out = img if img.mode in ("RGB", "RGBA") else img.convert("RGBA" if img.has_transparency_data else "RGB")
            buffer = io.BytesIO()
            out.save(buffer, format="WEBP")
    except _IMAGE_ERRORS as exc:
        raise error(404, "the preview image cannot be read") from exc
    return buffer.getvalue()


@routes.get("/experiment/models/preview/{folder}/{path_index}/{filename:.*}")
async def model_preview(request: web.Request) -> web.Response:
    paths = _known(_folders(request), request.match_info["folder"])
    filename = request.match_info["filename"]
    if not filename:
        raise error(400, "filename is empty")
    try:
        index = int(request.match_info["path_index"])
    except ValueError as exc:
        raise error(400, "path_index must be an integer") from exc
    if not 0 <= index < len(paths):
        raise error(404, "path_index is out of range")
    body = await asyncio.to_thread(_preview, paths[index], filename)
    return web.Response(body=body, content_type="image/webp")
