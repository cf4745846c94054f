"""The HTTP and WebSocket floor under the server benchmark's round trips: an aiohttp server that does nothing.

    .venv/bin/python bench/floor_bench.py [--repeat 2000]

A bare aiohttp application in a subprocess answers `POST /prompt` at once and pushes a job's WebSocket
messages (as many, and as large, as impasto sends for one run) to the client that posted; the client is
`server_bench.py`'s, on the same loopback. What a round trip costs here is what any Python server on aiohttp
pays before it validates, stores or runs anything: the part of `server_bench.py`'s figures that no change to
impasto can remove. Nothing of impasto is imported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server_process import free_port

from bench.server_bench import Client, tiny

# A distinct run's messages after the POST (websocket.md §4.1): two statuses, then the run's eleven.
DISTINCT_MESSAGES = 13
CACHED_MESSAGES = 8


def _messages(prompt_id: str, count: int) -> list[str]:
    node = {"value": 1, "max": 1, "state": "finished", "node_id": "1", "prompt_id": prompt_id}
    filler = {"type": "progress_state", "data": {"prompt_id": prompt_id, "nodes": {"1": node, "2": node}}}
    last = {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}}
    return [json.dumps(filler, separators=(",", ":"))] * (count - 1) + [json.dumps(last, separators=(",", ":"))]


def serve(port: int, ready: Any) -> None:
    async def main() -> None:
        sockets: dict[str, web.WebSocketResponse] = {}

        async def ws(request: web.Request) -> web.WebSocketResponse:
            socket = web.WebSocketResponse(compress=False)
            await socket.prepare(request)
            sockets[request.query.get("clientId", "")] = socket
            await socket.send_str(json.dumps({"type": "status", "data": {"status": {}}}))
            async for _ in socket:
                pass
            return socket

        async def prompt(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            prompt_id = str(uuid.uuid4())
            count = int(request.query.get("messages", DISTINCT_MESSAGES))
            socket = sockets.get(body.get("client_id", ""))
            if socket is not None:
                frames = _messages(prompt_id, count)

                async def push() -> None:
                    for frame in frames:
                        await socket.send_str(frame)

                asyncio.get_running_loop().call_soon(asyncio.ensure_future, push())
            return web.json_response({"prompt_id": prompt_id, "number": 0, "node_errors": {}})

        app = web.Application()
        app.router.add_get("/ws", ws)
        app.router.add_post("/prompt", prompt)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def measure(url: str, repeat: int) -> list[tuple[str, float]]:
    rows = []
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId=bench")
        await ws.receive()
        client = Client(url, session, ws)  # waits for `executing null` as server_bench.py does
        for name, count in (("distinct", DISTINCT_MESSAGES), ("cached", CACHED_MESSAGES)):
            samples = []
            for index in range(repeat + 100):
                started = time.perf_counter()
                await client.done({await _post(session, url, count, index)})
                if index >= 100:  # the first ones warm both sides
                    samples.append((time.perf_counter() - started) * 1000)
            rows.append((f"POST → the last of {count} messages (a {name} run's)", statistics.median(samples)))
        started = time.perf_counter()
        ids = set(await asyncio.gather(*(_post(session, url, DISTINCT_MESSAGES, i) for i in range(300))))
        await client.done(ids)
        rows.append(("burst of 300 (prompts/s)", 300 / (time.perf_counter() - started)))
        await ws.close()
    return rows


async def _post(session: aiohttp.ClientSession, url: str, messages: int, color: int) -> str:
    body = {"prompt": tiny(color), "client_id": "bench"}
    async with session.post(f"{url}/prompt?messages={messages}", json=body) as response:
        return str((await response.json())["prompt_id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    port = free_port()
    server = context.Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            print("the floor server did not start", file=sys.stderr)
            return 2
        rows = asyncio.run(measure(f"http://127.0.0.1:{port}", args.repeat))
    finally:
        server.terminate()
        server.join(10)
    print(f"{args.repeat} repeats, Python {sys.version.split()[0]}\n")
    print("| bare aiohttp server | median |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.0f} |" if "burst" in name else f"| {name} | {value:.2f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
