"""Files in the input, output and temp folders: GET /view, POST /upload/image, POST /upload/mask (http-api.md §5.2-5.4).

PIL does the image work (it is neither torch nor numpy), always in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import mimetypes
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from PIL import Image, PngImagePlugin

from impasto.paths import Folders, FolderType, split_annotation
from impasto.server.errors import error
from impasto.server.keys import SETTINGS
from impasto.server.routes.users import write_atomic
from impasto.server.routing import add_routes
from impasto.server.static import within

routes = web.RouteTableDef()

FOLDER_TYPES: tuple[FolderType, ...] = ("input", "output", "temp")
# Types a browser would render or run in our origin; /view sends them as downloads instead.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/css",
    }
)
# Choosing a free name and writing it must not interleave between two uploads of the same name.
UPLOAD_LOCK = web.AppKey("upload_lock", threading.Lock)

_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What PIL raises for files it cannot decode; SyntaxError comes from some plugins on broken data.
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def setup(app: web.Application) -> None:
    app[UPLOAD_LOCK] = threading.Lock()
    add_routes(app, routes)


def check_filename(name: str) -> None:
    """Refuse (400) a filename that is empty, absolute, climbs with `..`, or has a backslash, NUL or drive."""
    if not name:
        raise error(400, "filename is empty")
    if name.startswith("/") or _DRIVE.match(name):
        raise error(400, "filename must be a relative path")
    if ".." in name:
        raise error(400, "filename must not contain '..'")
    if "\\" in name or "\0" in name:
        raise error(400, "filename must not contain a backslash or a NUL byte")


def folder_root(folders: Folders, kind: object) -> Path:
    """The folder of a ComfyUI `type` (`input`, `output`, `temp`); 400 for anything else."""
    if kind not in FOLDER_TYPES:
        raise error(400, f"unknown folder type {kind!r}")
    return folders.folder(kind)


def join_subfolder(root: Path, subfolder: str) -> Path:
    """`root` joined with `subfolder`; 403 when the result is outside `root` (links inside are followed)."""
    if "\0" in subfolder:
        raise error(400, "subfolder must not contain a NUL byte")
    full = os.path.abspath(os.path.join(root, subfolder))
    if not within(full, root):
        raise error(403, "subfolder is outside the folder")
    return Path(full)


def _disposition(name: str) -> dict[str, str]:
    # Quote per RFC 6266 and drop control characters, which would otherwise break the header.
    quoted = _CONTROL.sub("_", name).replace("\\", "\\\\").replace('"', '\\"')
    return {"Content-Disposition": f'filename="{quoted}"'}


# --- GET /view ---


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    query = request.query
    if "filename" not in query:
        raise error(404, "no filename given")
    name, annotated = split_annotation(query["filename"])
    check_filename(name)
    root = folder_root(request.app[SETTINGS].folders, annotated or query.get("type", "output"))
    folder = join_subfolder(root, query.get("subfolder", ""))
    name = os.path.basename(name)
    path = folder / name
    if not name or not await asyncio.to_thread(path.is_file):
        raise error(404, "file not found")

    channel = query.get("channel", "")
    headers = _disposition(name)
    if "preview" in query:
        body, fmt = await asyncio.to_thread(_preview, path, query["preview"], channel)
        return web.Response(body=body, content_type=f"image/{fmt}", headers=headers)
    if channel in ("rgb", "a"):
        body = await asyncio.to_thread(_channel_png, path, channel)
        return web.Response(body=body, content_type="image/png", headers=headers)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type in ACTIVE_TYPES:
        content_type = "application/octet-stream"
    headers |= {"Content-Type": content_type, "X-Content-Type-Options": "nosniff"}
    return web.FileResponse(path, headers=headers)


def _preview(path: Path, spec: str, channel: str) -> tuple[bytes, str]:
    parts = spec.split(";")
    fmt = parts[0]
    if fmt not in ("webp", "jpeg") or "a" in channel:
        fmt = "webp"
    last = parts[-1]
    quality = min(max(int(last), 1), 100) if last.isascii() and last.isdigit() else 90
    try:
        with Image.open(path) as img:
            if fmt == "jpeg" or channel == "rgb":
                out = img.convert("RGB")
            elif img.mode in ("RGB", "RGBA"):
                out = img
            else:
                out = img.convert("RGBA" if img.has_transparency_data else "RGB")
            buffer = io.BytesIO()
            out.save(buffer, format=fmt.upper(), quality=quality)
    except _IMAGE_ERRORS as exc:
        raise error(400, "the file cannot be previewed as an image", details=str(exc)) from exc
    return buffer.getvalue(), fmt


def _channel_png(path: Path, channel: str) -> bytes:
    try:
        with Image.open(path) as img:
            if channel == "rgb":
                out = img.convert("RGB")
            else:
                # The mask editor reads this: colour zero, alpha as stored (opaque when there is none).
                if img.has_transparency_data:
                    alpha = img.convert("RGBA").getchannel("A")
                else:
                    alpha = Image.new("L", img.size, 255)
                out = Image.new("RGBA", img.size, (0, 0, 0, 0))
                out.putalpha(alpha)
            buffer = io.BytesIO()
            out.save(buffer, format="PNG")
    except _IMAGE_ERRORS as exc:
        raise error(400, "the file cannot be read as an image", details=str(exc)) from exc
    return buffer.getvalue()


# --- POST /upload/image and /upload/mask ---


@dataclass(slots=True)
class _Form:
    fields: dict[str, str] = field(default_factory=dict)
    image: bytes | None = None
    image_name: str | None = None


async def _read_form(request: web.Request) -> _Form:
    """The multipart body: text fields and the first `image` file part, at most `max_upload_bytes` in all."""
    limit = request.app[SETTINGS].max_upload_bytes
    too_large = error(413, f"upload is larger than {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    if request.content_type != "multipart/form-data":
        raise error(400, "expected a multipart/form-data body")
    form = _Form()
    total = 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise error(400, "nested multipart bodies are not accepted")
            data = bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise too_large
                data += chunk
            if part.name == "image":
                if form.image is None and part.filename is not None:
                    form.image, form.image_name = bytes(data), part.filename
            elif part.name is not None:
                form.fields[part.name] = data.decode("utf-8")
    except (ValueError, RuntimeError, HttpProcessingError) as exc:
        # UnicodeDecodeError is a ValueError: a text field that is not UTF-8.
        raise error(400, "malformed multipart body", details=str(exc)) from exc
    return form


@dataclass(frozen=True, slots=True)
class _Target:
    kind: str
    subfolder: str  # as the client sent it, echoed back
    folder: Path
    name: str
    overwrite: bool


def _target(folders: Folders, form: _Form) -> _Target:
    if form.image is None or not form.image_name:
        raise error(400, "an 'image' file part with a filename is required")
    kind = form.fields.get("type") or "input"
    root = folder_root(folders, kind)
    name = form.image_name
    # Deviation: no directory parts hidden in the filename, on any platform.
    if "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        raise error(400, "invalid image filename")
    subfolder = form.fields.get("subfolder", "")
    if "\0" in subfolder:
        raise error(400, "subfolder must not contain a NUL byte")
    folder = os.path.abspath(os.path.join(root, os.path.normpath(subfolder)))
    if not within(os.path.join(folder, name), root):
        raise error(400, "upload target is outside the folder")
    overwrite = form.fields.get("overwrite") in ("true", "1")
    return _Target(kind=kind, subfolder=subfolder, folder=Path(folder), name=name, overwrite=overwrite)


def _same_content(path: Path, data: bytes) -> bool:
    # A link is never "the same file": hashing it would read whatever it points to, possibly outside.
    if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
        return False
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1024 * 1024):
            digest.update(block)
    return digest.digest() == hashlib.sha256(data).digest()


def _save(lock: threading.Lock, root: Path, target: _Target, data: bytes) -> str:
    """Write `data` at the target, or at `name (n).ext`; an existing identical file is reused as is."""
    with lock:
        # Checked here, next to the write: a link in the subfolder must not carry the upload outside.
        if not within(os.path.realpath(target.folder), os.path.realpath(root)):
            raise error(400, "upload target is outside the folder")
        stem, ext = os.path.splitext(target.name)
        name = target.name
        try:
            target.folder.mkdir(parents=True, exist_ok=True)
            if not target.overwrite:
                n = 1
                while os.path.lexists(target.folder / name):
                    if _same_content(target.folder / name, data):
                        return name
                    name = f"{stem} ({n}){ext}"
                    n += 1
            write_atomic(target.folder / name, data)
        except OSError as exc:
            raise error(400, "cannot save the upload", details=str(exc)) from exc
        return name


async def _store(request: web.Request, target: _Target, data: bytes) -> web.Response:
    root = folder_root(request.app[SETTINGS].folders, target.kind)
    name = await asyncio.to_thread(_save, request.app[UPLOAD_LOCK], root, target, data)
    return web.json_response({"name": name, "subfolder": target.subfolder, "type": target.kind})


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    form = await _read_form(request)
    target = _target(request.app[SETTINGS].folders, form)
    assert form.image is not None  # _target refuses a form without one
    return await _store(request, target, form.image)


def _original(folders: Folders, raw: str | None) -> Path:
    """The image `original_ref` names; 400 for a bad reference, 403 for a subfolder escape."""
    if raw is None:
        raise error(400, "original_ref is required")
    try:
        ref: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise error(400, "original_ref must be JSON", details=str(exc)) from exc
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise error(400, "original_ref must be an object with a string 'filename'")
    subfolder = ref.get("subfolder", "")
    if not isinstance(subfolder, str):
        raise error(400, "original_ref.subfolder must be a string")
    name, annotated = split_annotation(ref["filename"])
    check_filename(name)
    root = folder_root(folders, annotated or ref.get("type", "output"))
    return join_subfolder(root, subfolder) / name


def _composite(original: Path, mask: bytes) -> bytes:
    """The original as RGBA PNG with the mask's alpha, keeping the original's PNG text chunks."""
    if not original.is_file():
        raise error(404, "the original image does not exist")
    try:
        with Image.open(original) as img:
            info = PngImagePlugin.PngInfo()
            for key, value in getattr(img, "text", {}).items():
                info.add_text(key, value)
            base = img.convert("RGBA")
    except _IMAGE_ERRORS as exc:
        raise error(400, "the original cannot be read as an image", details=str(exc)) from exc
    try:
        with Image.open(io.BytesIO(mask)) as upload:
            alpha = upload.convert("RGBA").getchannel("A")
    except _IMAGE_ERRORS as exc:
        raise error(400, "the mask cannot be read as an image", details=str(exc)) from exc
    if alpha.size != base.size:
        raise error(400, f"the mask is {alpha.size}, the original {base.size}")
    base.putalpha(alpha)
    buffer = io.BytesIO()
    base.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    form = await _read_form(request)
    folders = request.app[SETTINGS].folders
    target = _target(folders, form)
    original = _original(folders, form.fields.get("original_ref"))
    assert form.image is not None  # _target refuses a form without one
    data = await asyncio.to_thread(_composite, original, form.image)
    # The composite is what gets written, so it is also what the identical-content check compares.
    return await _store(request, target, data)
