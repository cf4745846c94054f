"""Many clients submitting and cancelling at once against a real server: every cancel answer holds, every
job ends exactly once, and each client's socket carries only its own runs (execution.md §9-10)."""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import pytest

from tests.integration.test_server_process import wait_for
from tests.support import stop_nodes
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow

CLIENTS = 4
JOBS_PER_CLIENT = 25


def job(client: int, index: int) -> dict:
    # Short runs that report progress, so cancels land before, during and after them.
    return {"1": {"class_type": "TenMsProgress", "inputs": {"steps": 3 + (client * 7 + index) % 5}}}


async def one_client(url: str, client: int, rng: random.Random) -> tuple[dict[str, list[dict]], dict, set[str]]:
    """Submit, and cancel about a third of the jobs at random moments; returns the cancel answers, the
    submitted ids and every prompt id seen in this client's per-run socket messages."""
    answers: dict[str, list[dict]] = {}
    submitted: dict[str, int] = {}
    seen: set[str] = set()
    sid = f"client-{client}"
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{url}/ws?clientId={sid}")

        async def read() -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if data["type"] != "status" and isinstance(data["data"], dict) and "prompt_id" in data["data"]:
                        seen.add(data["data"]["prompt_id"])

        reader = asyncio.create_task(read())
        for index in range(JOBS_PER_CLIENT):
            async with session.post(f"{url}/prompt", json={"prompt": job(client, index), "client_id": sid}) as r:
                assert r.status == 200, await r.text()
                submitted[(await r.json())["prompt_id"]] = index
            if rng.random() < 0.4:
                victim = await pick_victim(session, url, list(submitted), rng)
                await asyncio.sleep(rng.uniform(0, 0.02))
                async with session.post(f"{url}/api/impasto/jobs/{victim}/cancel") as r:
                    assert r.status == 200, await r.text()
                    answers.setdefault(victim, []).append(await r.json())
        await asyncio.sleep(0.5)
        while True:
            async with session.get(f"{url}/api/impasto/queue") as r:
                status = await r.json()
            if not status["pending"] and not status["running"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        await ws.close()
        reader.cancel()
    return answers, submitted, seen


async def pick_victim(session: aiohttp.ClientSession, url: str, mine: list[str], rng: random.Random) -> str:
    """The job running now (any client's), this client's newest (likely pending) or oldest (likely done)."""
    kind = rng.choice(["running", "newest", "oldest"])
    if kind == "running":
        async with session.get(f"{url}/api/impasto/queue") as r:
            running = (await r.json())["running"]
        if running:
            return str(running[0]["id"])
    return mine[-1] if kind == "newest" else mine[0]


async def drive(url: str) -> list[tuple[dict[str, list[dict]], dict, set[str]]]:
    return await asyncio.gather(*(one_client(url, c, random.Random(c)) for c in range(CLIENTS)))


def test_concurrent_submits_and_cancels_from_several_clients(tmp_path):
    base = tmp_path / "base"
    stop_nodes.install(base)
    server = ServerProcess(base).start()
    try:
        wait_for(lambda: [w for w in server.request("GET", "/api/impasto/queue")[1]["workers"] if w["state"] == "idle"])
        results = asyncio.run(drive(server.url))
        history = server.request("GET", "/history")[1]
        all_ids = [prompt_id for _answers, submitted, _seen in results for prompt_id in submitted]
        assert len(set(all_ids)) == CLIENTS * JOBS_PER_CLIENT
        answers: dict[str, list[dict]] = {}  # every cancel answer per job, from whichever client sent it
        for client_answers, _submitted, _seen in results:
            for prompt_id, given in client_answers.items():
                answers.setdefault(prompt_id, []).extend(given)
        for client, (_answers, submitted, seen) in enumerate(results):
            others = {i for c, (_a, s, _s) in enumerate(results) if c != client for i in s}
            assert not seen & others, "a client saw another client's run events"
            for prompt_id in submitted:
                check(prompt_id, answers.get(prompt_id, []), history, server, seen)
    finally:
        server.stop()


def check(prompt_id: str, answers: list[dict], history: dict, server: ServerProcess, seen: set[str]) -> None:
    """What a job's history and every cancel answer about it must agree on."""
    results = {a["result"] for a in answers}
    assert results <= {"cancelled", "already_finished"}, answers  # never unknown, never another job's answer
    entry = history.get(prompt_id)
    if entry is None:  # it never ran: only a cancel while it was pending removes a job
        assert "cancelled" in results, (prompt_id, answers)
        view = server.request("GET", f"/api/impasto/jobs/{prompt_id}")[1]
        assert (view["status"], view["stop_reason"]) == ("cancelled", "removed"), view
        return
    names = [m[0] for m in entry["status"]["messages"]]
    ends = [n for n in names if n in ("execution_success", "execution_error", "execution_interrupted")]
    assert len(ends) == 1, (prompt_id, names)  # exactly one end
    assert prompt_id in seen  # its own client saw its run
    # The answers say what happened: "cancelled" means the job was stopped; "already_finished" alone means it
    # ended by itself (as the cancel travelled, or before it).
    expected = "execution_interrupted" if "cancelled" in results else "execution_success"
    assert ends == [expected], (prompt_id, answers, names)
