"""The frontend's Run (Instant) loop with a fixed seed: how often it runs and what it costs the server.

    .venv/bin/python bench/instant_bench.py [--seconds 20]

A client re-submits the same prompt, marked as the frontend marks it (`comfy_usage_source`), as soon as the
previous run's `executing null` arrives, for a fixed time. Reports runs per second and the CPU the server and
its worker used (percent of one core), with no-op repeat pacing on (the default) and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server_process import ServerProcess

PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 7}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "instant"}},
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def family(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(child) for child in children)]


async def loop(url: str, seconds: float) -> int:
    runs = 0
    body = {"prompt": PROMPT, "client_id": "page", "extra_data": {"comfy_usage_source": "comfyui-frontend"}}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId=page")
        await ws.receive()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            async with session.post(f"{url}/prompt", json=body) as response:
                prompt_id = (await response.json())["prompt_id"]
            while True:
                message = await ws.receive()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["type"] == "executing" and data["data"] == {"node": None, "prompt_id": prompt_id}:
                    break
            runs += 1
        await ws.close()
    return runs


def measure(seconds: float, *flags: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as base:
        server = ServerProcess(Path(base), *flags).start()
        try:
            asyncio.run(loop(server.url, 2.0))  # the worker is up and the cache holds the prompt
            assert server.process is not None
            pids = family(server.process.pid)
            before = sum(cpu_seconds(pid) for pid in pids)
            started = time.monotonic()
            runs = asyncio.run(loop(server.url, seconds))
            wall = time.monotonic() - started
            used = sum(cpu_seconds(pid) for pid in pids) - before
        finally:
            server.stop()
    return runs / wall, 100 * used / wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    print("| pacing | runs per second | server + worker CPU (% of one core) |")
    print("|---|---:|---:|")
    for name, flags in [("on (500 ms, default)", ()), ("off", ("--noop-repeat-interval-ms", "0"))]:
        rate, cpu = measure(args.seconds, *flags)
        print(f"| {name} | {rate:.1f} | {cpu:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
