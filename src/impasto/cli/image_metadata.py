"""The `prompt` and `workflow` an image carries: PNG text chunks (SaveImage) and WebP EXIF strings.

Read with the standard library alone: the command line stays light, and a damaged image is an error
message, not a decoder exception. SaveImage writes each key as a PNG text chunk holding JSON (`tEXt`, or
`iTXt` when the text is not Latin-1); animated WebP savers write EXIF strings `prompt:{...}` (Model) and
`workflow:{...}` (Make and the tags below it).
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYS = ("prompt", "workflow")


class ImageMetadataError(ValueError):
    """The file looks like an image but its structure cannot be read."""


def is_png(head: bytes) -> bool:
    return head.startswith(PNG_SIGNATURE)


def is_webp(head: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def png_texts(data: bytes) -> dict[str, str]:
    """Every text chunk of a PNG, by keyword (the first of a repeated keyword wins)."""
    texts: dict[str, str] = {}
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if len(body) < length:
            raise ImageMetadataError("the PNG ends inside a chunk (a truncated file?)")
        offset += 12 + length
        if kind == b"IEND":
            break
        try:
            entry = _text_chunk(kind, body)
        except (ValueError, zlib.error) as exc:
            raise ImageMetadataError(f"an unreadable {kind.decode('latin-1')} chunk: {exc}") from None
        if entry is not None:
            texts.setdefault(*entry)
    return texts


def _text_chunk(kind: bytes, body: bytes) -> tuple[str, str] | None:
    if kind not in (b"tEXt", b"zTXt", b"iTXt"):
        return None
    keyword, _, rest = body.partition(b"\0")
    name = keyword.decode("latin-1")
    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, zlib.decompress(rest[1:]).decode("latin-1")
    compressed, rest = rest[0], rest[2:]  # compression flag, method
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return name, (zlib.decompress(text) if compressed else text).decode("utf-8")


def webp_texts(data: bytes) -> dict[str, str]:
    """`prompt` and `workflow` from the EXIF strings of a WebP (`key:{json}`)."""
    offset = 12
    while offset + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)
        if kind == b"EXIF":
            return _exif_texts(body[6:] if body.startswith(b"Exif\0\0") else body)
    return {}


def _exif_texts(tiff: bytes) -> dict[str, str]:
    if tiff[:4] not in (b"II*\0", b"MM\0*"):
        raise ImageMetadataError("the WebP's EXIF chunk is not TIFF data")
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        raise ImageMetadataError("the WebP's EXIF directory lies outside the chunk")
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    texts: dict[str, str] = {}
    for index in range(count):
        start = ifd + 2 + 12 * index
        entry = tiff[start : start + 12]
        if len(entry) < 12:
            break
        _tag, kind, length, value = struct.unpack(order + "HHI4s", entry)
        if kind not in (2, 7):  # ASCII, UNDEFINED
            continue
        if length <= 4:
            raw = value[:length]
        else:
            (where,) = struct.unpack(order + "I", value)
            raw = tiff[where : where + length]
        text = raw.rstrip(b"\0").decode("utf-8", "replace")
        key, sep, rest = text.partition(":")
        if sep and key in KEYS:
            texts.setdefault(key, rest)
    return texts


def image_texts(data: bytes) -> dict[str, str] | None:
    """`prompt`/`workflow` texts of a PNG or WebP (maybe empty); None when the data is neither."""
    if is_png(data):
        texts = png_texts(data)
    elif is_webp(data):
        texts = webp_texts(data)
    else:
        return None
    return {key: texts[key] for key in KEYS if key in texts}
