"""Recognising WORKFLOW before any server is asked: JSON shapes and the metadata images carry."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from impasto.cli.image_metadata import png_texts
from impasto.cli.output import CommandError
from impasto.cli.workflow_file import read_workflow

PROMPT = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}
UI = {"nodes": [{"id": 1, "type": "EmptyImage", "widgets_values": [8, 8, 1, 0]}], "links": [], "version": 0.4}


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_json_shapes(tmp_path):
    (tmp_path / "api.json").write_text(json.dumps(PROMPT))
    (tmp_path / "ui.json").write_text(json.dumps(UI))
    body = {"prompt": PROMPT, "extra_data": {"extra_pnginfo": {"workflow": UI}}}
    (tmp_path / "body.json").write_text(json.dumps(body))
    assert read_workflow(tmp_path / "api.json").kind == "api"
    assert read_workflow(tmp_path / "ui.json").workflow == UI
    from_body = read_workflow(tmp_path / "body.json")
    assert (from_body.prompt, from_body.workflow) == (PROMPT, UI)


def test_a_png_from_save_image_gives_both_and_non_latin_text_survives(tmp_path):
    info = PngInfo()
    info.add_text("prompt", json.dumps(PROMPT))
    workflow = {**UI, "extra": {"note": "日本語 ✓"}}
    info.add_text("workflow", json.dumps(workflow, ensure_ascii=False))  # written as iTXt
    Image.new("RGB", (2, 2)).save(tmp_path / "a.png", pnginfo=info)
    found = read_workflow(tmp_path / "a.png")
    assert (found.kind, found.prompt, found.workflow) == ("png", PROMPT, workflow)


def test_compressed_text_chunks_are_read():
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"zTXt", b"prompt\0\0" + zlib.compress(json.dumps(PROMPT).encode()))
    data += chunk(b"iTXt", b"workflow\0\x01\0\0\0" + zlib.compress(json.dumps(UI).encode())) + chunk(b"IEND", b"")
    texts = png_texts(data)
    assert json.loads(texts["prompt"]) == PROMPT and json.loads(texts["workflow"]) == UI


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 100) + b"tEXt" + b"prompt\0{", "truncated"),
        (b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", b"prompt\0{not json"), "is not JSON"),
        (b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", b'prompt\0{"a": 1}'), "hold no nodes"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "carries no prompt or workflow"),
    ],
)
def test_damaged_or_empty_images_are_refused_with_a_reason(tmp_path, data, message):
    (tmp_path / "x").write_bytes(data)
    with pytest.raises(CommandError, match=message) as caught:
        read_workflow(tmp_path / "x")
    assert caught.value.code == 2


def test_a_directory_is_not_a_workflow(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        read_workflow(Path(tmp_path))
