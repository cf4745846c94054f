"""The /ws protocol: first status, feature flags, routing between clients, replay, errors (websocket.md)."""

from __future__ import annotations

import asyncio
import json
import struct

import aiohttp
import pytest

from impasto.server.hub import message
from tests.server.conftest import SAVE_PROMPT


async def post(client, prompt, **extra):
    response = await client.post("/prompt", json={"prompt": prompt, **extra})
    assert response.status == 200, await response.text()
    return (await response.json())["prompt_id"]


async def test_a_socket_without_client_id_gets_a_generated_sid(client):
    ws = await client.ws_connect("/api/ws")
    first = json.loads((await ws.receive()).data)
    assert first["type"] == "status"
    assert len(first["data"]["sid"]) == 32
    assert first["data"]["status"]["exec_info"]["queue_remaining"] == 0
    await ws.close()


async def test_feature_flags_handshake(client, connect):
    socket = await connect("c1")
    await socket.ws.send_str(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    reply = await socket.next()
    assert reply == {
        "type": "feature_flags",
        "data": {"supports_preview_metadata": True, "max_upload_size": 100 * 1024 * 1024, "impasto_api_version": 1},
    }
    await socket.ws.send_str("later messages are ignored")
    await socket.ws.send_bytes(b"\x00")
    assert not socket.ws.closed


async def test_two_clients_see_only_their_own_run_events_but_both_see_status(client, connect):
    one = await connect("one")
    two = await connect("two")
    prompt_id = await post(client, SAVE_PROMPT, client_id="one")
    mine = await one.run_end(prompt_id)
    assert "execution_success" in [m["type"] for m in mine]
    theirs = await two.until(
        lambda m: m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0
    )
    assert {m["type"] for m in theirs} == {"status"}


async def test_a_runtime_error_is_reported_before_the_final_status(client, connect):
    socket = await connect("c1")
    prompt = {
        "1": {"class_type": "Const", "inputs": {"value": 1}},
        "2": {"class_type": "Fail", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "Output", "inputs": {"value": ["2", 0]}},
    }
    prompt_id = await post(client, prompt, client_id="c1")
    messages = await socket.run_end(prompt_id)
    types = [m["type"] for m in messages]
    assert types[-3:] == ["execution_error", "status", "executing"]
    assert "execution_success" not in types
    error = messages[-3]["data"]
    assert error["node_id"] == "2" and error["exception_message"] == "boom 1\n"


async def test_progress_state_on_the_wire_holds_every_node_of_the_run(client, connect):
    socket = await connect("c1")
    prompt_id = await post(client, SAVE_PROMPT, client_id="c1")
    messages = await socket.run_end(prompt_id)
    states = [m["data"]["nodes"] for m in messages if m["type"] == "progress_state"]
    assert set(states[-1]) == {"1", "2"}
    assert states[-1]["1"]["state"] == "finished"


async def test_a_job_without_client_broadcasts_progress_but_not_lifecycle(client, connect):
    socket = await connect("watcher")
    busy = {
        "1": {"class_type": "Busy", "inputs": {"steps": 3, "seconds": 0.0}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    await post(client, busy)
    seen = await socket.until(
        lambda m: m["type"] == "status" and m["data"]["status"]["exec_info"]["queue_remaining"] == 0
    )
    types = {m["type"] for m in seen}
    assert "progress" in types or "progress_state" in types
    assert not types & {"execution_start", "executing", "executed", "execution_success"}


async def test_a_reconnecting_tab_gets_its_running_job_replayed(client, connect):
    first = await connect("tab")
    busy = {
        "1": {"class_type": "Busy", "inputs": {"steps": 300, "seconds": 0.01}},
        "2": {"class_type": "Output", "inputs": {"value": ["1", 0]}},
    }
    prompt_id = await post(client, busy, client_id="tab")
    await first.until(lambda m: m["type"] == "progress")
    await first.ws.close()
    again = await connect("tab")
    replay = [await again.next() for _ in range(4)]
    assert [m["type"] for m in replay][:3] == ["execution_start", "execution_cached", "progress_state"]
    assert replay[0]["data"]["prompt_id"] == prompt_id
    assert replay[3]["type"] == "executing" and replay[3]["data"]["node"] == "1"
    await client.post("/interrupt", json={"prompt_id": prompt_id})
    await again.run_end(prompt_id)


def test_preview_frame_layouts():
    from impasto.protocol.progress import ProgressStateFold
    from impasto.server.hub import Hub, _RunState

    run = _RunState("c", ProgressStateFold("p"))
    plain = Hub._preview_frame(run, "p", "3", "JPEG", b"img", with_meta=False)
    assert plain == struct.pack(">II", 1, 1) + b"img"
    framed = Hub._preview_frame(run, "p", "3", "PNG", b"img", with_meta=True)
    kind, length = struct.unpack(">II", framed[:8])
    assert kind == 4
    meta = json.loads(framed[8 : 8 + length])
    assert meta["node_id"] == "3" and meta["prompt_id"] == "p" and meta["image_type"] == "image/png"
    assert framed[8 + length :] == b"img"


async def test_a_socket_that_does_not_keep_up_is_closed_not_waited_for(client, connect):
    from impasto.server.hub import QueueCounts
    from impasto.server.keys import HUB

    slow = await connect("slow")
    hub = client.app[HUB]
    for _ in range(1500):  # queued without yielding: the socket's sender cannot drain in between
        hub.status(QueueCounts(0, 0))
    while True:
        received = await slow.ws.receive(timeout=10)
        if received.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            break
    assert slow.ws.close_code == 1013
    healthy = await connect("healthy")  # other sockets and the server are unaffected
    assert healthy.messages[0]["data"]["sid"] == "healthy"


async def test_a_client_that_stops_reading_is_closed_with_a_bounded_backlog(client):
    from impasto.server.channel import MAX_QUEUED_BYTES, WRITE_BUFFER_HIGH
    from impasto.server.keys import HUB

    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"GET /ws?clientId=stuck HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    hub = client.app[HUB]
    for _ in range(200):
        channels = [c for c in hub.channels() if c.sid == "stuck"]
        if channels:
            break
        await asyncio.sleep(0.01)
    channel = channels[0]
    payload = "x" * 100_000
    largest = 0
    for _ in range(1000):  # the client never reads again: the kernel buffers fill, then impasto's
        if channel.closed:
            break
        channel.send(payload)
        await asyncio.sleep(0)
        assert channel.transport is not None
        largest = max(largest, channel.transport.get_write_buffer_size())
    assert channel.closed
    assert largest <= WRITE_BUFFER_HIGH + MAX_QUEUED_BYTES  # what waits in impasto stays bounded
    writer.close()


def test_message_json_is_the_same_data_and_writes_non_finite_floats_as_null():
    data = {"node": "1", "output": {"text": ["é ✓"], "scores": [0.25, float("nan"), float("-inf")]}, "n": 2**70}
    decoded = json.loads(message("executed", data))
    assert decoded == {
        "type": "executed",
        "data": {"node": "1", "output": {"text": ["é ✓"], "scores": [0.25, None, None]}, "n": 2**70},
    }
    assert json.loads(message("executed", {"values": (1, 2.5)})) == {"type": "executed", "data": {"values": [1, 2.5]}}


def test_message_refuses_what_is_not_json():
    looped: dict[str, object] = {"n": 2**70}
    looped["self"] = looped
    with pytest.raises(ValueError):
        message("custom", looped)
    with pytest.raises(TypeError):
        message("custom", {"value": object()})
