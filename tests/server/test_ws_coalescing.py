"""Progress coalescing on the wire (websocket.md §5): latest value wins, the terminal message is never stuck."""

from __future__ import annotations

from pathlib import Path

import pytest

from impasto.config import Settings
from impasto.paths import Folders


@pytest.fixture
def server_settings(tmp_path: Path) -> Settings:
    return Settings(folders=Folders.from_base(tmp_path), progress_interval_ms=50)


async def test_fast_progress_is_coalesced_and_the_end_is_in_order(client, connect):
    socket = await connect("c1")
    prompt = {
        "1": {"class_type": "Busy", "inputs": {"steps": 400, "seconds": 0.001}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    response = await client.post("/prompt", json={"prompt": prompt, "client_id": "c1"})
    prompt_id = (await response.json())["prompt_id"]
    messages = await socket.run_end(prompt_id)
    progress = [m["data"]["value"] for m in messages if m["type"] == "progress"]
    assert 0 < len(progress) < 200  # 400 updates, released at most every 50 ms
    assert progress == sorted(progress) and progress[-1] == 400  # the newest value always gets through
    types = [m["type"] for m in messages]
    last_progress = max(i for i, t in enumerate(types) if t in ("progress", "progress_state"))
    assert last_progress < types.index("execution_success") < len(types) - 2
    assert types[-2:] == ["status", "executing"]
