"""User data files under <user dir>/default (http-api.md §6.3), confined to that folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from impasto.config import Settings
from tests.api.conftest import BOTH, Client, MakeClient, assert_error, raw, snapshot


@pytest.fixture
def root(settings: Settings) -> Path:
    return settings.folders.user / "default"


def make(root: Path, relative: str, content: bytes = b"{}") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# --- GET /userdata ---


@BOTH
async def test_listing_without_dir_is_a_400(plumbing_client: Client, prefix: str) -> None:
    response = await plumbing_client.get(f"{prefix}/userdata")
    assert response.status == 400
    assert await response.text() == "Directory not provided"


@BOTH
async def test_listing_a_missing_directory_is_a_404(plumbing_client: Client, prefix: str) -> None:
    await assert_error(await plumbing_client.get(f"{prefix}/userdata", params={"dir": "workflows"}), 404)


@BOTH
@pytest.mark.parametrize("directory", ["..", "../..", "/etc", "workflows/../../..", "%2E%2E"])
async def test_listing_outside_the_user_directory_is_a_403(
    plumbing_client: Client, prefix: str, directory: str
) -> None:
    await assert_error(await plumbing_client.get(f"{prefix}/userdata", params={"dir": directory}), 403)


async def test_listing_returns_files_relative_to_dir(plumbing_client: Client, root: Path) -> None:
    make(root, "workflows/a.json")
    make(root, "workflows/b.json")
    make(root, "workflows/sub/c.json")
    make(root, "workflows/.hidden.json")
    response = await plumbing_client.get("/api/userdata", params={"dir": "workflows"})
    assert response.status == 200
    assert await response.json() == ["a.json", "b.json"]


async def test_listing_recursively_uses_slash_separated_paths(plumbing_client: Client, root: Path) -> None:
    make(root, "workflows/a.json")
    make(root, "workflows/sub/deeper/c.json")
    make(root, "workflows/.git/config")
    params = {"dir": "workflows", "recurse": "true"}
    assert await (await plumbing_client.get("/api/userdata", params=params)).json() == [
        "a.json",
        "sub/deeper/c.json",
    ]


async def test_listing_with_full_info_gives_size_and_times(plumbing_client: Client, root: Path) -> None:
    path = make(root, "workflows/sub/a.json", b"12345")
    params = {"dir": "workflows", "recurse": "true", "split": "false", "full_info": "true"}
    (entry,) = await (await plumbing_client.get("/api/userdata", params=params)).json()
    assert entry == {
        "path": "sub/a.json",
        "size": 5,
        "modified": path.stat().st_mtime,
        "created": path.stat().st_ctime,
    }
    assert isinstance(entry["modified"], float)


async def test_listing_with_split_gives_path_segments(plumbing_client: Client, root: Path) -> None:
    make(root, "workflows/a.json")
    make(root, "workflows/x/y.json")
    params = {"dir": "workflows", "recurse": "true", "split": "true"}
    assert await (await plumbing_client.get("/api/userdata", params=params)).json() == [
        ["a.json", "a.json"],
        ["x/y.json", "x", "y.json"],
    ]


async def test_listing_leaves_out_links_that_point_outside(plumbing_client: Client, root: Path, outside: Path) -> None:
    make(root, "workflows/mine.json")
    (root / "workflows" / "leak.json").symlink_to(outside / "secret.txt")
    (root / "workflows" / "dir").symlink_to(outside, target_is_directory=True)
    params = {"dir": "workflows", "recurse": "true"}
    assert await (await plumbing_client.get("/api/userdata", params=params)).json() == ["mine.json"]


async def test_listing_a_linked_directory_outside_is_a_403(plumbing_client: Client, root: Path, outside: Path) -> None:
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    await assert_error(await plumbing_client.get("/api/userdata", params={"dir": "elsewhere"}), 403)


# --- GET /userdata/{file} ---


@BOTH
async def test_a_file_is_served_by_its_url_encoded_path(plumbing_client: Client, root: Path, prefix: str) -> None:
    make(root, "workflows/my flow.json", b'{"nodes": []}')
    response = await raw(plumbing_client, "GET", f"{prefix}/userdata/workflows%2Fmy%20flow.json")
    assert response.status == 200
    assert await response.read() == b'{"nodes": []}'


async def test_a_doubly_encoded_path_is_unquoted(plumbing_client: Client, root: Path) -> None:
    make(root, "workflows/a.json", b"A")
    response = await raw(plumbing_client, "GET", "/api/userdata/workflows%252Fa.json")
    assert await response.read() == b"A"


@BOTH
async def test_a_missing_file_is_a_404(plumbing_client: Client, prefix: str) -> None:
    await assert_error(await plumbing_client.get(f"{prefix}/userdata/comfy.templates.json"), 404)


async def test_a_directory_is_not_served(plumbing_client: Client, root: Path) -> None:
    (root / "workflows").mkdir()
    await assert_error(await plumbing_client.get("/api/userdata/workflows"), 404)


async def test_user_css_is_served_as_css(plumbing_client: Client, root: Path) -> None:
    make(root, "user.css", b"body { color: red }")
    response = await plumbing_client.get("/api/userdata/user.css")
    assert response.status == 200
    assert response.content_type == "text/css"


@pytest.mark.parametrize("name", ["page.html", "code.js", "page.xhtml"])
async def test_active_content_is_served_as_a_download_type(plumbing_client: Client, root: Path, name: str) -> None:
    make(root, name, b"<script>alert(1)</script>")
    response = await plumbing_client.get(f"/api/userdata/{name}")
    assert response.content_type == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


ESCAPES = [
    "..%2Foutside.json",
    "..%2F..%2F..%2Fsecret.txt",
    "%2Fetc%2Fpasswd",
    "%252E%252E%252Fx.json",
    "a%2F..%2F..%2Fb",
]


@pytest.mark.parametrize("name", ESCAPES)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_a_path_outside_the_user_directory_is_a_403(
    plumbing_client: Client, settings: Settings, outside: Path, method: str, name: str
) -> None:
    before = snapshot(settings.folders.base), snapshot(outside)
    response = await raw(plumbing_client, method, f"/api/userdata/{name}", data=b"payload")
    await assert_error(response, 403)
    assert (snapshot(settings.folders.base), snapshot(outside)) == before
    assert not (settings.folders.user / "outside.json").exists()


@pytest.mark.parametrize("name", ["a%5Cb.json", "..%5C..%5Cx.json", "a%00b.json"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_a_backslash_or_nul_in_the_path_is_a_400(
    plumbing_client: Client, root: Path, method: str, name: str
) -> None:
    await assert_error(await raw(plumbing_client, method, f"/api/userdata/{name}", data=b"x"), 400)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_a_link_pointing_outside_is_refused(
    plumbing_client: Client, root: Path, outside: Path, method: str
) -> None:
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for name in ("link.txt", "linkdir%2Fsecret.txt", "linkdir%2Fnew.json"):
        response = await raw(plumbing_client, method, f"/api/userdata/{name}", data=b"overwritten")
        body = await assert_error(response, 403)
        assert "top secret" not in str(body)
    assert snapshot(outside) == before
    assert (root / "link.txt").is_symlink()


async def test_a_link_inside_the_user_directory_is_followed(plumbing_client: Client, root: Path) -> None:
    make(root, "real.json", b"real")
    (root / "alias.json").symlink_to(root / "real.json")
    assert await (await plumbing_client.get("/api/userdata/alias.json")).read() == b"real"


# --- POST /userdata/{file} ---


@BOTH
async def test_posting_writes_the_raw_body_and_creates_parents(
    plumbing_client: Client, root: Path, prefix: str
) -> None:
    response = await raw(plumbing_client, "POST", f"{prefix}/userdata/workflows%2Fnew%2Fflow.json", data=b"\x00\x01raw")
    assert response.status == 200
    assert await response.json() == "workflows/new/flow.json"
    assert (root / "workflows" / "new" / "flow.json").read_bytes() == b"\x00\x01raw"


async def test_posting_with_full_info_returns_the_file_info(plumbing_client: Client, root: Path) -> None:
    response = await plumbing_client.post("/api/userdata/a.json", params={"full_info": "true"}, data=b"abc")
    info = await response.json()
    stat = (root / "a.json").stat()
    assert info == {"path": "a.json", "size": 3, "modified": stat.st_mtime, "created": stat.st_ctime}


async def test_posting_overwrites_by_default(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"old")
    assert (await plumbing_client.post("/api/userdata/a.json", data=b"new")).status == 200
    assert (root / "a.json").read_bytes() == b"new"


async def test_posting_without_overwrite_onto_an_existing_file_is_a_409(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"old")
    response = await plumbing_client.post("/api/userdata/a.json", params={"overwrite": "false"}, data=b"new")
    await assert_error(response, 409)
    assert (root / "a.json").read_bytes() == b"old"


async def test_posting_without_overwrite_writes_a_new_file(plumbing_client: Client, root: Path) -> None:
    response = await plumbing_client.post("/api/userdata/b.json", params={"overwrite": "false"}, data=b"new")
    assert response.status == 200
    assert (root / "b.json").read_bytes() == b"new"


async def test_posting_a_name_the_os_rejects_is_a_400(plumbing_client: Client, root: Path) -> None:
    await assert_error(await plumbing_client.post(f"/api/userdata/{'x' * 300}.json", data=b"{}"), 400)


async def test_posting_onto_a_directory_is_a_400(plumbing_client: Client, root: Path) -> None:
    (root / "workflows").mkdir()
    await assert_error(await plumbing_client.post("/api/userdata/workflows", data=b"{}"), 400)
    assert (root / "workflows").is_dir()


async def test_posting_below_a_file_is_a_400(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json")
    await assert_error(await raw(plumbing_client, "POST", "/api/userdata/a.json%2Fb.json", data=b"{}"), 400)


async def test_an_oversized_body_is_a_413(make_plumbing_client: MakeClient, root: Path) -> None:
    client = await make_plumbing_client(max_upload_size_mb=1 / 1024)  # 1 KiB
    await assert_error(await client.post("/api/userdata/big.json", data=b"x" * 2048), 413)
    assert not (root / "big.json").exists()


async def test_an_oversized_chunked_body_is_a_413(make_plumbing_client: MakeClient, root: Path) -> None:
    client = await make_plumbing_client(max_upload_size_mb=1 / 1024)

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(4):
            yield b"x" * 1000

    await assert_error(await client.post("/api/userdata/big.json", data=chunks()), 413)
    assert not (root / "big.json").exists()


async def test_bodies_larger_than_aiohttps_default_limit_are_accepted(plumbing_client: Client, root: Path) -> None:
    body = b"w" * (3 * 1024 * 1024)
    response = await plumbing_client.post("/api/userdata/workflows%2Fbig.json", data=io.BytesIO(body))
    assert response.status == 200
    assert (root / "workflows" / "big.json").read_bytes() == body


# --- DELETE /userdata/{file} ---


@BOTH
async def test_deleting_a_file_is_a_204(plumbing_client: Client, root: Path, prefix: str) -> None:
    make(root, "workflows/a.json")
    response = await raw(plumbing_client, "DELETE", f"{prefix}/userdata/workflows%2Fa.json")
    assert response.status == 204
    assert not (root / "workflows" / "a.json").exists()


async def test_deleting_a_missing_file_is_a_404(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.delete("/api/userdata/none.json"), 404)


async def test_deleting_a_directory_is_a_404(plumbing_client: Client, root: Path) -> None:
    (root / "workflows").mkdir()
    await assert_error(await plumbing_client.delete("/api/userdata/workflows"), 404)
    assert (root / "workflows").is_dir()


# --- POST /userdata/{file}/move/{dest} ---


@BOTH
async def test_moving_renames_the_file(plumbing_client: Client, root: Path, prefix: str) -> None:
    make(root, "workflows/a.json", b"A")
    response = await raw(plumbing_client, "POST", f"{prefix}/userdata/workflows%2Fa.json/move/archive%2Fb.json")
    assert response.status == 200
    assert await response.json() == "archive/b.json"
    assert (root / "archive" / "b.json").read_bytes() == b"A"
    assert not (root / "workflows" / "a.json").exists()


async def test_moving_with_full_info_describes_the_destination(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"AB")
    response = await plumbing_client.post("/api/userdata/a.json/move/b.json", params={"full_info": "true"})
    info = await response.json()
    assert info["path"] == "b.json"
    assert info["size"] == 2


async def test_moving_a_missing_file_is_a_404(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.post("/api/userdata/none.json/move/b.json"), 404)


async def test_moving_onto_an_existing_file_without_overwrite_is_a_409(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"A")
    make(root, "b.json", b"B")
    response = await plumbing_client.post("/api/userdata/a.json/move/b.json", params={"overwrite": "false"})
    await assert_error(response, 409)
    assert (root / "a.json").read_bytes() == b"A"
    assert (root / "b.json").read_bytes() == b"B"


async def test_moving_onto_an_existing_file_overwrites_by_default(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"A")
    make(root, "b.json", b"B")
    assert (await plumbing_client.post("/api/userdata/a.json/move/b.json")).status == 200
    assert (root / "b.json").read_bytes() == b"A"


async def test_moving_onto_a_directory_is_a_409(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json", b"A")
    (root / "folder").mkdir()
    await assert_error(await plumbing_client.post("/api/userdata/a.json/move/folder"), 409)
    assert (root / "a.json").exists()


@pytest.mark.parametrize("dest", ["..%2Fstolen.json", "%2Ftmp%2Fstolen.json", "linkdir%2Fstolen.json"])
async def test_moving_outside_the_user_directory_is_a_403(
    plumbing_client: Client, root: Path, outside: Path, dest: str
) -> None:
    make(root, "a.json", b"A")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    await assert_error(await raw(plumbing_client, "POST", f"/api/userdata/a.json/move/{dest}"), 403)
    assert (root / "a.json").read_bytes() == b"A"
    assert snapshot(outside) == before


async def test_moving_a_file_from_outside_is_a_403(plumbing_client: Client, root: Path, outside: Path) -> None:
    await assert_error(await raw(plumbing_client, "POST", "/api/userdata/..%2F..%2Fx/move/b.json"), 403)
    assert not (root / "b.json").exists()


# --- GET /v2/userdata ---


@BOTH
async def test_v2_lists_everything_directories_first(plumbing_client: Client, root: Path, prefix: str) -> None:
    make(root, "b.json", b"bb")
    make(root, "A.json", b"a")
    make(root, "workflows/z.json", b"zzz")
    (root / "Empty").mkdir()
    listing = await (await plumbing_client.get(f"{prefix}/v2/userdata")).json()
    assert [(e["type"], e["path"]) for e in listing] == [
        ("directory", "Empty"),
        ("directory", "workflows"),
        ("file", "A.json"),
        ("file", "b.json"),
        ("file", "workflows/z.json"),
    ]
    z = next(e for e in listing if e["name"] == "z.json")
    assert z["size"] == 3
    assert z["modified"] == (root / "workflows" / "z.json").stat().st_mtime
    assert "size" not in listing[0]


async def test_v2_lists_below_a_sub_path(plumbing_client: Client, root: Path) -> None:
    make(root, "workflows/sub/a.json")
    make(root, "other.json")
    listing = await (await plumbing_client.get("/api/v2/userdata", params={"path": "workflows"})).json()
    assert [e["path"] for e in listing] == ["workflows/sub", "workflows/sub/a.json"]


async def test_v2_is_empty_when_the_user_root_does_not_exist(plumbing_client: Client, root: Path) -> None:
    os.rmdir(root)
    response = await plumbing_client.get("/api/v2/userdata")
    assert response.status == 200
    assert await response.json() == []


async def test_v2_for_a_missing_path_is_a_404(plumbing_client: Client) -> None:
    await assert_error(await plumbing_client.get("/api/v2/userdata", params={"path": "nope"}), 404)


async def test_v2_for_a_file_is_a_400(plumbing_client: Client, root: Path) -> None:
    make(root, "a.json")
    await assert_error(await plumbing_client.get("/api/v2/userdata", params={"path": "a.json"}), 400)


@pytest.mark.parametrize("path", ["..", "../..", "/etc", "%2E%2E%2F%2E%2E", "linkdir"])
async def test_v2_outside_the_user_directory_is_a_400(
    plumbing_client: Client, root: Path, outside: Path, path: str
) -> None:
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    body = await assert_error(await plumbing_client.get("/api/v2/userdata", params={"path": path}), 400)
    assert "secret" not in str(body)


async def test_v2_leaves_out_links_that_point_outside(plumbing_client: Client, root: Path, outside: Path) -> None:
    make(root, "mine.json")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    listing = await (await plumbing_client.get("/api/v2/userdata")).json()
    assert [e["path"] for e in listing] == ["mine.json"]
