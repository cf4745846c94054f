"""Stop benchmark: how long from a stop request to `execution_interrupted` at the client, and to the next job.

    .venv/bin/python bench/stop_bench.py [--repeat 10]

Runs a real server with the custom-node pack of tests/support/stop_nodes.py: a node reporting progress every
10 ms, and a pure-Python loop that never checks in (stopped by escalation after the grace period, or by an
explicit force stop).
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

from tests.support import stop_nodes
from tests.support.server_process import ServerProcess

NEXT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}


async def one_stop(url: str, session: aiohttp.ClientSession, prompt: dict[str, Any], stop: str) -> tuple[float, float]:
    """(request → execution_interrupted, request → the next job's execution_start) in ms."""
    ws = await session.ws_connect(f"{url}/ws?clientId=stop")
    await ws.receive()
    async with session.post(f"{url}/prompt", json={"prompt": prompt, "client_id": "stop"}) as r:
        job = (await r.json())["prompt_id"]
    next_prompt = json.loads(json.dumps(NEXT))
    next_prompt["1"]["inputs"]["color"] = int(time.time() * 1000) % 16_000_000
    async with session.post(f"{url}/prompt", json={"prompt": next_prompt, "client_id": "stop"}) as r:
        following = (await r.json())["prompt_id"]
    while True:  # until the job runs its node
        data = json.loads((await ws.receive()).data)
        if data["type"] == "executing" and data["data"].get("prompt_id") == job and data["data"]["node"] == "1":
            break
    await asyncio.sleep(0.3)
    started = time.perf_counter()
    if stop == "force":
        request = asyncio.ensure_future(session.post(f"{url}/api/impasto/jobs/{job}/force-stop"))
    else:
        request = asyncio.ensure_future(session.post(f"{url}/interrupt", json={"prompt_id": job}))
    interrupted = next_start = 0.0
    while not next_start:
        data = json.loads((await ws.receive()).data)
        if data["type"] == "execution_interrupted" and data["data"]["prompt_id"] == job:
            interrupted = (time.perf_counter() - started) * 1000
        if data["type"] == "execution_start" and data["data"]["prompt_id"] == following:
            next_start = (time.perf_counter() - started) * 1000
    (await request).release()
    await ws.close()
    return interrupted, next_start


async def measure(url: str, repeat: int) -> list[tuple[str, list[tuple[float, float]]]]:
    cases = [
        (
            "node reporting progress every 10 ms, /interrupt",
            {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 100000}}},
            "i",
        ),
        (
            "torch computation of many module calls, no progress reports, /interrupt",
            {"1": {"class_type": "TorchLoop", "inputs": {"calls": 10**9}}},
            "i",
        ),
        (
            "pure-Python loop, /interrupt (escalates after 1 s grace)",
            {"1": {"class_type": "Stuck", "inputs": {"seconds": 600.0}}},
            "i",
        ),
        ("pure-Python loop, force-stop", {"1": {"class_type": "Stuck", "inputs": {"seconds": 600.0}}}, "force"),
    ]
    results = []
    async with aiohttp.ClientSession() as session:
        for name, prompt, stop in cases:
            samples = [await one_stop(url, session, prompt, stop) for _ in range(repeat)]
            results.append((name, samples))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as base:
        stop_nodes.install(base)
        server = ServerProcess(Path(base), "--interrupt-grace", "1").start(timeout=120)
        try:
            results = asyncio.run(measure(server.url, args.repeat))
        finally:
            server.stop()
    print(f"{args.repeat} repeats, Python {sys.version.split()[0]}\n")
    print("| stop | request → execution_interrupted (median ms) | request → next job starts (median ms) |")
    print("|---|---:|---:|")
    for name, samples in results:
        interrupted = statistics.median(s[0] for s in samples)
        following = statistics.median(s[1] for s in samples)
        print(f"| {name} | {interrupted:.0f} | {following:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
