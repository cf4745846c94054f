"""Server benchmark: start-up, idle memory, round trips, a burst, and a long queue, against a real server process.

    .venv/bin/python bench/server_bench.py [--repeat 50] [--starts 5]

Starts `python -m impasto` on a free port in a temporary base directory, drives it over HTTP and the
WebSocket from this process, and prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server_process import ServerProcess


def tiny(color: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench"}},
    }


def frontend_workflow(nodes: int = 150) -> dict[str, Any]:
    """A UI workflow of the size the frontend sends in extra_data.extra_pnginfo (about 52 KB of JSON)."""
    return {
        "nodes": [
            {
                "id": i,
                "type": "KSampler",
                "pos": [i * 10.5, i * 3.25],
                "size": [315, 262],
                "widgets_values": [i, "randomize", 20, 8, "euler", "normal", 1],
                "inputs": [{"name": "model", "type": "MODEL", "link": i}],
                "outputs": [{"name": "LATENT", "type": "LATENT", "links": [i + 1]}],
                "properties": {"Node name for S&R": "KSampler"},
            }
            for i in range(nodes)
        ],
        "links": [[i, i, 0, i + 1, 0, "MODEL"] for i in range(nodes)],
        "version": 0.4,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    def __init__(self, url: str, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.url = url
        self.session = session
        self.ws = ws

    async def post(self, prompt: dict[str, Any], extra_data: dict[str, Any] | None = None) -> str:
        body = {"prompt": prompt, "client_id": "bench", **({"extra_data": extra_data} if extra_data else {})}
        async with self.session.post(f"{self.url}/prompt", json=body) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["prompt_id"])

    async def done(self, prompt_ids: set[str]) -> None:
        """Until `executing null` arrived for every id."""
        while prompt_ids:
            message = await self.ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data["type"] == "executing" and data["data"]["node"] is None:
                prompt_ids.discard(data["data"]["prompt_id"])


async def timed_ms(coroutine_factory: Any, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await coroutine_factory()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(server: ServerProcess, repeat: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    assert server.process is not None
    await asyncio.sleep(2.0)  # let start-up work settle before reading idle memory
    rows.append(("server RSS idle", f"{rss_mb(server.process.pid):.0f} MB", "≤ 130 MB [436 MB]"))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{server.url}/ws?clientId=bench")
        await ws.receive()
        client = Client(server.url, session, ws)
        colors = iter(range(1, 10**9))

        async def distinct() -> None:
            await client.done({await client.post(tiny(next(colors)))})

        await distinct()  # warm the worker
        rows.append(
            _row("distinct tiny prompt: POST → executing null", await timed_ms(distinct, repeat), "≤ 2 ms [3.1 ms]")
        )
        workflow = {"extra_pnginfo": {"workflow": frontend_workflow()}}

        async def distinct_with_workflow() -> None:
            await client.done({await client.post(tiny(next(colors)), workflow)})

        rows.append(
            _row(
                "distinct tiny prompt with a 52 KB UI workflow in extra_data (as the frontend sends)",
                await timed_ms(distinct_with_workflow, repeat),
                "(no target)",
            )
        )
        same = tiny(0)
        await client.done({await client.post(same)})

        async def cached() -> None:
            await client.done({await client.post(same)})

        rows.append(
            _row("identical cached re-run: POST → executing null", await timed_ms(cached, repeat), "≤ 1 ms [1.7 ms]")
        )

        started = time.perf_counter()
        ids = set(await asyncio.gather(*(client.post(tiny(next(colors))) for _ in range(300))))
        await client.done(ids)
        rate = 300 / (time.perf_counter() - started)
        rows.append(("burst of 300 distinct tiny prompts", f"{rate:.0f} prompts/s", "≥ 700/s [353/s]"))

        async with session.post(f"{server.url}/api/impasto/queue/pause"):  # the queue fills without running
            pass
        for _ in range(2000):
            await client.post(tiny(next(colors)))

        async def post_pending() -> None:
            await client.post(tiny(next(colors)))

        rows.append(_row("POST /prompt with 2,000 pending", await timed_ms(post_pending, repeat), "≤ 0.7 ms [0.47 ms]"))

        async def get_queue() -> None:
            async with session.get(f"{server.url}/queue") as response:
                await response.read()

        rows.append(_row("GET /queue with 2,000 pending", await timed_ms(get_queue, repeat), "≤ 4 ms [11.6 ms]"))
        for _ in range(10_000 - 2_000 - repeat):
            await client.post(tiny(next(colors)))

        async def list_jobs() -> None:
            async with session.get(f"{server.url}/api/jobs?status=in_progress,pending&limit=200&offset=0") as r:
                await r.read()

        rows.append(
            _row(
                "GET /api/jobs?status=in_progress,pending&limit=200 with 10,000 pending",
                await timed_ms(list_jobs, repeat),
                "≤ 20 ms",
            )
        )
        async with session.post(f"{server.url}/queue", json={"clear": True}):
            pass
        async with session.post(f"{server.url}/api/impasto/queue/resume"):
            pass
        await ws.close()
    return rows


def timed_start(server: ServerProcess) -> float:
    """Seconds from spawning the server to its first 200 of /object_info (polled every 10 ms)."""
    started = time.perf_counter()
    server.start(timeout=120)
    return time.perf_counter() - started


def _row(name: str, samples: list[float], target: str) -> tuple[str, str, str]:
    return (name, f"{statistics.median(samples):.2f} ms", target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--starts", type=int, default=5, help="server starts timed, each kind (default 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as base:
        cold, warm = [], []
        for attempt in range(args.starts):
            # A first start (an empty base directory) builds the node catalog; a restart serves the saved one.
            first = ServerProcess(Path(base) / f"start-{attempt}")
            cold.append(timed_start(first))
            first.stop()
            again = ServerProcess(first.base, port=first.port)
            warm.append(timed_start(again))
            if attempt < args.starts - 1:
                again.stop()
        try:
            rows = [
                (
                    "start → first 200 of /object_info (first start)",
                    f"{statistics.median(cold):.2f} s",
                    "≤ 1 s [4.9 s]",
                ),
                (
                    "start → first 200 of /object_info (saved catalog)",
                    f"{statistics.median(warm):.2f} s",
                    "≤ 1 s [4.9 s]",
                ),
                *asyncio.run(measure(again, args.repeat)),
            ]
        finally:
            again.stop()
    print(f"{args.repeat} repeats per timed row, {args.starts} starts of each kind, Python {sys.version.split()[0]}\n")
    print("| measure | median | target [ComfyUI] |")
    print("|---|---:|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
