"""GET /view, POST /upload/image and POST /upload/mask (http-api.md §5.2-5.4)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from PIL import Image, PngImagePlugin

from impasto.config import Settings
from tests.api.conftest import BOTH, Client, MakeClient, assert_error, open_image, png_bytes, snapshot


def put(folder: Path, relative: str, data: bytes) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def form(image: bytes | None = None, filename: str | None = "pic.png", **fields: str) -> FormData:
    data = FormData()
    if image is not None:
        data.add_field("image", io.BytesIO(image), filename=filename, content_type="image/png")
    for name, value in fields.items():
        data.add_field(name, value)
    return data


# --- GET /view ---


@BOTH
async def test_view_serves_an_output_file_as_stored(plumbing_client: Client, settings: Settings, prefix: str) -> None:
    data = png_bytes()
    put(settings.folders.output, "a.png", data)
    response = await plumbing_client.get(f"{prefix}/view", params={"filename": "a.png"})
    assert response.status == 200
    assert await response.read() == data
    assert response.content_type == "image/png"
    assert response.headers["Content-Disposition"] == 'filename="a.png"'


@pytest.mark.parametrize("kind", ["input", "output", "temp"])
async def test_view_type_selects_the_folder(plumbing_client: Client, settings: Settings, kind: str) -> None:
    put(settings.folders.folder(kind), "x.txt", kind.encode())  # type: ignore[arg-type]
    response = await plumbing_client.get("/api/view", params={"filename": "x.txt", "type": kind})
    assert await response.read() == kind.encode()


async def test_an_annotation_selects_the_folder_and_overrides_type(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.input, "a.png", b"input-bytes")
    put(settings.folders.output, "a.png", b"output-bytes")
    params = {"filename": "a.png [input]", "type": "output"}
    response = await plumbing_client.get("/api/view", params=params)
    assert await response.read() == b"input-bytes"
    assert response.headers["Content-Disposition"] == 'filename="a.png"'


async def test_view_joins_the_subfolder(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "run/1/a.txt", b"deep")
    response = await plumbing_client.get("/api/view", params={"filename": "a.txt", "subfolder": "run/1"})
    assert await response.read() == b"deep"


async def test_view_uses_only_the_last_path_component(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "a.txt", b"top")
    put(settings.folders.output, "sub/a.txt", b"sub")
    response = await plumbing_client.get("/api/view", params={"filename": "sub/a.txt"})
    assert await response.read() == b"top"


@BOTH
async def test_view_without_filename_is_a_404(plumbing_client: Client, prefix: str) -> None:
    await assert_error(await plumbing_client.get(f"{prefix}/view"), 404)


@BOTH
@pytest.mark.parametrize(
    "filename",
    [
        "",
        " [input]",
        "/etc/passwd",
        "..",
        "../secret.txt",
        "a..b.png",
        "sub\\a.png",
        "a\x00.png",
        "C:evil.png",
        "c:\\x",
    ],
)
async def test_view_refuses_unsafe_filenames_with_a_400(
    plumbing_client: Client, outside: Path, prefix: str, filename: str
) -> None:
    body = await assert_error(await plumbing_client.get(f"{prefix}/view", params={"filename": filename}), 400)
    assert "top secret" not in json.dumps(body)


async def test_view_with_an_unknown_type_is_a_400(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.get("/api/view", params={"filename": "a.png", "type": "models"}), 400)


@pytest.mark.parametrize("subfolder", ["..", "../..", "/etc", "a/../../x", "/"])
async def test_view_with_a_subfolder_outside_is_a_403(plumbing_client: Client, subfolder: str) -> None:
    params = {"filename": "passwd", "subfolder": subfolder}
    await assert_error(await plumbing_client.get("/api/view", params=params), 403)


async def test_view_with_a_nul_in_the_subfolder_is_a_400(plumbing_client: Client) -> None:
    params = {"filename": "a.png", "subfolder": "a\x00b"}
    await assert_error(await plumbing_client.get("/api/view", params=params), 400)


async def test_view_of_a_missing_file_is_a_404(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.get("/api/view", params={"filename": "none.png"}), 404)


async def test_view_of_a_directory_is_a_404(plumbing_client: Client, settings: Settings) -> None:
    (settings.folders.output / "dir.png").mkdir(parents=True)
    await assert_error(await plumbing_client.get("/api/view", params={"filename": "dir.png"}), 404)


async def test_view_follows_links_that_live_inside_the_folder(
    plumbing_client: Client, settings: Settings, tmp_path: Path
) -> None:
    # §5.2 step 5: the check is on the joined path, and links inside the folder are followed.
    target = put(tmp_path, "shared/pic.txt", b"linked")
    settings.folders.output.mkdir(parents=True, exist_ok=True)
    (settings.folders.output / "shared").symlink_to(target.parent, target_is_directory=True)
    response = await plumbing_client.get("/api/view", params={"filename": "pic.txt", "subfolder": "shared"})
    assert await response.read() == b"linked"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page.html", "application/octet-stream"),
        ("page.htm", "application/octet-stream"),
        ("page.xhtml", "application/octet-stream"),
        ("code.js", "application/octet-stream"),
        ("style.css", "application/octet-stream"),
        ("notes.txt", "text/plain"),
        ("pic.webp", "image/webp"),
        ("blob.unknownext", "application/octet-stream"),
    ],
)
async def test_view_forces_active_content_to_a_download_type(
    plumbing_client: Client, settings: Settings, name: str, expected: str
) -> None:
    put(settings.folders.output, name, b"<script>alert(1)</script>")
    response = await plumbing_client.get("/api/view", params={"filename": name})
    assert response.content_type == expected


async def test_view_quotes_the_disposition_filename(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, 'we"ird\nname.txt', b"x")
    response = await plumbing_client.get("/api/view", params={"filename": 'we"ird\nname.txt'})
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'filename="we\\"ird_name.txt"'


@pytest.mark.parametrize(
    ("preview", "channel", "fmt", "mode"),
    [
        ("webp;90", None, "WEBP", "RGBA"),
        ("jpeg;85", None, "JPEG", "RGB"),
        ("jpeg", None, "JPEG", "RGB"),
        ("gif;50", None, "WEBP", "RGBA"),
        ("jpeg;80", "a", "WEBP", "RGBA"),
        ("webp;90", "rgb", "WEBP", "RGB"),
        ("webp;x", None, "WEBP", "RGBA"),
        ("webp;9999", None, "WEBP", "RGBA"),
    ],
)
async def test_preview_re_encodes_the_image(
    plumbing_client: Client, settings: Settings, preview: str, channel: str | None, fmt: str, mode: str
) -> None:
    put(settings.folders.output, "a.png", png_bytes((8, 6)))
    params = {"filename": "a.png", "preview": preview, **({"channel": channel} if channel else {})}
    response = await plumbing_client.get("/api/view", params=params)
    assert response.status == 200
    assert response.content_type == f"image/{fmt.lower()}"
    assert response.headers["Content-Disposition"] == 'filename="a.png"'
    img = open_image(await response.read())
    assert (img.format, img.mode, img.size) == (fmt, mode, (8, 6))


async def test_preview_of_a_palette_image_works(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "p.png", png_bytes(mode="P", color=3))
    response = await plumbing_client.get("/api/view", params={"filename": "p.png", "preview": "webp;90"})
    assert open_image(await response.read()).format == "WEBP"


async def test_channel_rgb_drops_the_alpha(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "a.png", png_bytes(color=(200, 100, 50, 7)))
    response = await plumbing_client.get("/api/view", params={"filename": "a.png", "channel": "rgb"})
    assert response.content_type == "image/png"
    img = open_image(await response.read())
    assert (img.format, img.mode, img.getpixel((0, 0))) == ("PNG", "RGB", (200, 100, 50))


async def test_channel_a_keeps_only_the_alpha(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "a.png", png_bytes(color=(200, 100, 50, 77)))
    response = await plumbing_client.get("/api/view", params={"filename": "a.png", "channel": "a"})
    img = open_image(await response.read())
    assert (img.format, img.mode, img.getpixel((1, 1))) == ("PNG", "RGBA", (0, 0, 0, 77))


async def test_channel_a_of_an_opaque_image_is_fully_opaque(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "a.png", png_bytes(mode="RGB", color=(1, 2, 3)))
    response = await plumbing_client.get("/api/view", params={"filename": "a.png", "channel": "a"})
    assert open_image(await response.read()).getpixel((0, 0)) == (0, 0, 0, 255)


@pytest.mark.parametrize("channel", ["rgba", "bogus", ""])
async def test_other_channels_serve_the_file_as_stored(
    plumbing_client: Client, settings: Settings, channel: str
) -> None:
    data = png_bytes()
    put(settings.folders.output, "a.png", data)
    response = await plumbing_client.get("/api/view", params={"filename": "a.png", "channel": channel})
    assert await response.read() == data


@pytest.mark.parametrize("params", [{"preview": "webp;90"}, {"channel": "rgb"}, {"channel": "a"}])
async def test_image_variants_of_a_non_image_are_a_400(
    plumbing_client: Client, settings: Settings, params: dict[str, str]
) -> None:
    put(settings.folders.output, "fake.png", b"not an image at all")
    await assert_error(await plumbing_client.get("/api/view", params={"filename": "fake.png", **params}), 400)


# --- POST /upload/image ---


@BOTH
async def test_upload_saves_to_input_by_default(plumbing_client: Client, settings: Settings, prefix: str) -> None:
    data = png_bytes()
    response = await plumbing_client.post(f"{prefix}/upload/image", data=form(data))
    assert response.status == 200
    assert await response.json() == {"name": "pic.png", "subfolder": "", "type": "input"}
    assert (settings.folders.input / "pic.png").read_bytes() == data


@pytest.mark.parametrize("kind", ["input", "temp", "output"])
async def test_upload_type_selects_the_folder(plumbing_client: Client, settings: Settings, kind: str) -> None:
    response = await plumbing_client.post("/api/upload/image", data=form(b"data", type=kind, subfolder="a/b"))
    assert await response.json() == {"name": "pic.png", "subfolder": "a/b", "type": kind}
    assert (settings.folders.folder(kind) / "a" / "b" / "pic.png").read_bytes() == b"data"  # type: ignore[arg-type]


async def test_uploading_identical_content_reuses_the_name(plumbing_client: Client, settings: Settings) -> None:
    for _ in range(3):
        response = await plumbing_client.post("/api/upload/image", data=form(b"same"))
        assert (await response.json())["name"] == "pic.png"
    assert [p.name for p in settings.folders.input.iterdir()] == ["pic.png"]


async def test_uploading_different_content_picks_the_next_free_name(
    plumbing_client: Client, settings: Settings
) -> None:
    names = []
    for content in (b"one", b"two", b"three", b"two"):
        response = await plumbing_client.post("/api/upload/image", data=form(content))
        names.append((await response.json())["name"])
    assert names == ["pic.png", "pic (1).png", "pic (2).png", "pic (1).png"]
    assert (settings.folders.input / "pic (2).png").read_bytes() == b"three"


@pytest.mark.parametrize("flag", ["true", "1"])
async def test_overwrite_replaces_the_existing_file(plumbing_client: Client, settings: Settings, flag: str) -> None:
    put(settings.folders.input, "pic.png", b"old")
    response = await plumbing_client.post("/api/upload/image", data=form(b"new", overwrite=flag))
    assert (await response.json())["name"] == "pic.png"
    assert (settings.folders.input / "pic.png").read_bytes() == b"new"


async def test_overwrite_false_keeps_the_existing_file(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.input, "pic.png", b"old")
    response = await plumbing_client.post("/api/upload/image", data=form(b"new", overwrite="false"))
    assert (await response.json())["name"] == "pic (1).png"
    assert (settings.folders.input / "pic.png").read_bytes() == b"old"


async def test_a_directory_with_the_name_is_skipped(plumbing_client: Client, settings: Settings) -> None:
    (settings.folders.input / "pic.png").mkdir(parents=True)
    response = await plumbing_client.post("/api/upload/image", data=form(b"x"))
    assert (await response.json())["name"] == "pic (1).png"


async def test_upload_without_an_image_is_a_400(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.post("/api/upload/image", data=form(type="input")), 400)


async def test_an_image_field_without_a_filename_is_a_400(plumbing_client: Client, settings: Settings) -> None:
    data = FormData()
    data.add_field("image", "just text")
    await assert_error(await plumbing_client.post("/api/upload/image", data=data), 400)
    assert not settings.folders.input.exists()


async def test_an_empty_filename_is_a_400(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.post("/api/upload/image", data=form(b"x", filename="")), 400)


async def test_upload_with_an_unknown_type_is_a_400(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.post("/api/upload/image", data=form(b"x", type="models")), 400)


def multipart(filename: str, content: bytes = b"x") -> tuple[bytes, dict[str, str]]:
    """A form with one `image` part, its filename parameter sent byte for byte (FormData would quote it)."""
    param = filename if filename.startswith("filename*=") else f'filename="{filename}"'
    head = f'--bnd\r\nContent-Disposition: form-data; name="image"; {param}\r\n\r\n'
    body = head.encode() + content + b"\r\n--bnd--\r\n"
    return body, {"Content-Type": "multipart/form-data; boundary=bnd"}


@pytest.mark.parametrize(
    "filename",
    [
        "a/b.png",
        "../evil.png",
        "..\\\\evil.png",  # a quoted-pair: the server reads one backslash
        "a\x00.png",
        "..",
        ".",
        "filename*=utf-8''%2Fetc%2Fpasswd",
        "filename*=utf-8''..%2F..%2Fx.png",
    ],
)
async def test_a_filename_with_directory_parts_is_a_400(
    plumbing_client: Client, settings: Settings, outside: Path, filename: str
) -> None:
    before = snapshot(settings.folders.base), snapshot(outside)
    body, headers = multipart(filename)
    await assert_error(await plumbing_client.post("/api/upload/image", data=body, headers=headers), 400)
    assert (snapshot(settings.folders.base), snapshot(outside)) == before


async def test_a_raw_multipart_body_is_accepted(plumbing_client: Client, settings: Settings) -> None:
    body, headers = multipart("plain name.png", b"raw")
    response = await plumbing_client.post("/upload/image", data=body, headers=headers)
    assert await response.json() == {"name": "plain name.png", "subfolder": "", "type": "input"}
    assert (settings.folders.input / "plain name.png").read_bytes() == b"raw"


@pytest.mark.parametrize("subfolder", ["..", "../../x", "/tmp/x", "a/../../b", "a\x00b"])
async def test_a_subfolder_outside_the_folder_is_a_400(
    plumbing_client: Client, settings: Settings, subfolder: str
) -> None:
    before = snapshot(settings.folders.base)
    await assert_error(await plumbing_client.post("/api/upload/image", data=form(b"x", subfolder=subfolder)), 400)
    assert snapshot(settings.folders.base) == before
    assert not (settings.folders.base / "pic.png").exists()


async def test_a_linked_subfolder_pointing_outside_is_a_400(
    plumbing_client: Client, settings: Settings, outside: Path
) -> None:
    settings.folders.input.mkdir(parents=True)
    (settings.folders.input / "out").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for subfolder in ("out", "out/deeper"):
        await assert_error(await plumbing_client.post("/api/upload/image", data=form(b"x", subfolder=subfolder)), 400)
    assert snapshot(outside) == before
    assert not (outside / "deeper").exists()


async def test_a_non_multipart_body_is_a_400(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.post("/api/upload/image", json={"image": "x"}), 400)
    await assert_error(await plumbing_client.post("/api/upload/image", data=b"raw"), 400)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "multipart/form-data; boundary=xyz", "multipart/form-data; boundary=" + "b" * 80],
)
async def test_a_malformed_multipart_body_is_a_400(plumbing_client: Client, content_type: str) -> None:
    headers = {"Content-Type": content_type}
    await assert_error(await plumbing_client.post("/api/upload/image", data=b"garbage", headers=headers), 400)


async def test_a_text_field_that_is_not_utf8_is_a_400(plumbing_client: Client) -> None:
    data = FormData()
    data.add_field("image", b"x", filename="pic.png")
    data.add_field("subfolder", io.BytesIO(b"\xff\xfe"), content_type="text/plain")
    await assert_error(await plumbing_client.post("/api/upload/image", data=data), 400)


async def test_an_upload_over_the_size_limit_is_a_413(make_plumbing_client: MakeClient, settings: Settings) -> None:
    client = await make_plumbing_client(max_upload_size_mb=1 / 1024)
    await assert_error(await client.post("/api/upload/image", data=form(b"x" * 4096)), 413)
    assert not settings.folders.input.exists()


async def test_a_chunked_upload_over_the_size_limit_is_a_413(
    make_plumbing_client: MakeClient, settings: Settings
) -> None:
    client = await make_plumbing_client(max_upload_size_mb=1 / 1024)
    head = b'--bnd\r\nContent-Disposition: form-data; name="image"; filename="pic.png"\r\n\r\n'

    async def chunks():  # no Content-Length: the limit is enforced while reading
        yield head
        for _ in range(8):
            yield b"x" * 1000
        yield b"\r\n--bnd--\r\n"

    headers = {"Content-Type": "multipart/form-data; boundary=bnd"}
    await assert_error(await client.post("/api/upload/image", data=chunks(), headers=headers), 413)
    assert not settings.folders.input.exists()


async def test_uploads_larger_than_aiohttps_default_limit_are_accepted(
    plumbing_client: Client, settings: Settings
) -> None:
    data = b"p" * (3 * 1024 * 1024)
    response = await plumbing_client.post("/api/upload/image", data=form(data))
    assert response.status == 200
    assert (settings.folders.input / "pic.png").read_bytes() == data


# --- POST /upload/mask ---


def original_png(size: tuple[int, int] = (4, 3)) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"1": {}}')
    info.add_text("workflow", "wf")
    return png_bytes(size, color=(90, 80, 70), mode="RGB", pnginfo=info)


def mask_form(ref: Any, mask: bytes | None = None, **fields: str) -> FormData:
    mask = mask if mask is not None else png_bytes(color=(0, 0, 0, 33))
    values = {"type": "input", "subfolder": "clipspace", **fields}
    if ref is not None:
        values["original_ref"] = ref if isinstance(ref, str) else json.dumps(ref)
    return form(mask, filename="clipspace-mask-1.png", **values)


@BOTH
async def test_mask_replaces_the_originals_alpha_and_keeps_its_text(
    plumbing_client: Client, settings: Settings, prefix: str
) -> None:
    put(settings.folders.output, "run/orig.png", original_png())
    ref = {"filename": "orig.png", "subfolder": "run", "type": "output"}
    response = await plumbing_client.post(f"{prefix}/upload/mask", data=mask_form(ref))
    assert response.status == 200
    assert await response.json() == {"name": "clipspace-mask-1.png", "subfolder": "clipspace", "type": "input"}
    saved = open_image((settings.folders.input / "clipspace" / "clipspace-mask-1.png").read_bytes())
    assert (saved.format, saved.mode, saved.size) == ("PNG", "RGBA", (4, 3))
    assert saved.getpixel((2, 1)) == (90, 80, 70, 33)
    assert isinstance(saved, PngImagePlugin.PngImageFile)
    assert saved.text == {"prompt": '{"1": {}}', "workflow": "wf"}


async def test_mask_original_type_defaults_to_output_and_annotations_work(
    plumbing_client: Client, settings: Settings
) -> None:
    put(settings.folders.output, "o.png", original_png())
    put(settings.folders.input, "i.png", original_png())
    for ref in ({"filename": "o.png"}, {"filename": "i.png [input]", "type": "output"}):
        response = await plumbing_client.post("/api/upload/mask", data=mask_form(ref, overwrite="true"))
        assert response.status == 200, await response.text()


async def test_resending_the_same_mask_reuses_the_name(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "o.png", original_png())
    names = [
        (await (await plumbing_client.post("/api/upload/mask", data=mask_form({"filename": "o.png"}))).json())["name"]
        for _ in range(2)
    ]
    assert names == ["clipspace-mask-1.png", "clipspace-mask-1.png"]
    other = mask_form({"filename": "o.png"}, mask=png_bytes(color=(0, 0, 0, 1)))
    assert (await (await plumbing_client.post("/api/upload/mask", data=other)).json())["name"] == (
        "clipspace-mask-1 (1).png"
    )


async def test_mask_for_a_missing_original_is_a_404(plumbing_client: Client, settings: Settings) -> None:
    await assert_error(await plumbing_client.post("/api/upload/mask", data=mask_form({"filename": "gone.png"})), 404)
    assert not (settings.folders.input / "clipspace" / "clipspace-mask-1.png").exists()


@pytest.mark.parametrize(
    "ref",
    [
        None,
        "{not json",
        "[1, 2]",
        {"subfolder": "x"},
        {"filename": 5},
        {"filename": ""},
        {"filename": "../x.png"},
        {"filename": "/etc/passwd"},
        {"filename": "a\\b.png"},
        {"filename": "a.png", "type": "models"},
        {"filename": "a.png", "subfolder": 3},
    ],
)
async def test_a_bad_original_ref_is_a_400(plumbing_client: Client, settings: Settings, ref: Any) -> None:
    await assert_error(await plumbing_client.post("/api/upload/mask", data=mask_form(ref)), 400)
    assert not (settings.folders.input / "clipspace").exists()


@pytest.mark.parametrize("subfolder", ["..", "../..", "/etc"])
async def test_an_original_ref_subfolder_outside_is_a_403(plumbing_client: Client, subfolder: str) -> None:
    ref = {"filename": "passwd", "subfolder": subfolder}
    await assert_error(await plumbing_client.post("/api/upload/mask", data=mask_form(ref)), 403)


async def test_a_mask_of_another_size_is_a_400(plumbing_client: Client, settings: Settings) -> None:
    put(settings.folders.output, "o.png", original_png((4, 3)))
    data = mask_form({"filename": "o.png"}, mask=png_bytes((5, 5)))
    await assert_error(await plumbing_client.post("/api/upload/mask", data=data), 400)


@pytest.mark.parametrize(("original", "mask"), [(b"not a png", None), (None, b"not a png")])
async def test_undecodable_images_are_a_400(
    plumbing_client: Client, settings: Settings, original: bytes | None, mask: bytes | None
) -> None:
    put(settings.folders.output, "o.png", original if original is not None else original_png())
    data = mask_form({"filename": "o.png"}, mask=mask)
    await assert_error(await plumbing_client.post("/api/upload/mask", data=data), 400)


async def test_mask_of_an_image_without_text_chunks(plumbing_client: Client, settings: Settings) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (1, 2, 3)).save(buffer, format="JPEG")
    put(settings.folders.output, "o.jpg", buffer.getvalue())
    response = await plumbing_client.post("/api/upload/mask", data=mask_form({"filename": "o.jpg"}))
    assert response.status == 200
    saved = open_image((settings.folders.input / "clipspace" / "clipspace-mask-1.png").read_bytes())
    assert saved.mode == "RGBA"
    assert saved.getpixel((0, 0))[3] == 33
