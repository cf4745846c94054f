"""Job store benchmark: the calls the server makes on every submission, claim, `GET /queue` and `GET /api/jobs`.

    .venv/bin/python bench/store_bench.py [--store sqlite-file|sqlite-memory|memory] [--repeat 51]

Prints a Markdown table of medians (and the 10th/90th percentiles) in milliseconds. Each job carries a
7-node SD 1.5 text-to-image prompt and a UI workflow in `extra_data` (about 1 KB and 3 KB of JSON).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from impasto.queue import JobResult, JobState, JobStore, MemoryJobStore, NewJob, SqliteJobStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import timed

PENDING = 2_000
ROWS = 10_000
STATES = [JobState.COMPLETED] * 7 + [JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED]


def sd15_prompt(seed: int) -> dict[str, Any]:
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": 20,
                "cfg": 8.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle of wine on a table", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


def new_job(index: int, number: float) -> NewJob:
    nodes = [
        {"id": i, "type": "Node", "pos": [i * 100, 200], "size": [300, 100], "widgets_values": [i]} for i in range(9)
    ]
    workflow_id = f"wf{index % 7}"
    workflow = {"id": workflow_id, "nodes": nodes, "links": [[i, i, 0, i + 1, 0, "X"] for i in range(8)]}
    created = 1_764_000_000_000 + index
    extra = {"client_id": "c1", "create_time": created, "extra_pnginfo": {"workflow": workflow}}
    return NewJob(f"job-{index:06d}", number, sd15_prompt(index), extra, ["9"], "c1", created, workflow_id)


def finished(job_id: str, state: JobState, started: int) -> JobResult:
    image = {"filename": f"{job_id}.png", "subfolder": "", "type": "output"}
    messages = [["execution_start", {"prompt_id": job_id, "timestamp": started}]]
    return JobResult(state, {"9": {"images": [image]}}, {"9": {"node_id": "9"}}, messages, "success", started + 900)


def open_store(kind: str, folder: Path) -> JobStore:
    if kind == "sqlite-file":
        return SqliteJobStore(folder / f"bench-{time.monotonic_ns()}.db")
    if kind == "sqlite-memory":
        return SqliteJobStore(None)
    return MemoryJobStore()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=["sqlite-file", "sqlite-memory", "memory"], default="sqlite-file")
    parser.add_argument("--repeat", type=int, default=51)
    args = parser.parse_args(argv)
    counter = iter(range(10**9))
    rows: list[tuple[str, list[float]]] = []

    with tempfile.TemporaryDirectory() as folder:
        queue = open_store(args.store, Path(folder))
        for _ in range(PENDING):
            queue.add(new_job(next(counter), queue.next_number()))
        rows.append(
            ("add (2,000 pending)", timed(lambda: queue.add(new_job(next(counter), queue.next_number())), args.repeat))
        )
        rows.append(("claim_next (2,000 pending)", timed(lambda: queue.claim_next("w0", 0), args.repeat)))
        queue.delete_pending(None)
        for _ in range(PENDING):
            queue.add(new_job(next(counter), queue.next_number()))
        assert len(queue.queue_items()[1]) == PENDING
        rows.append(("queue_items (2,000 pending)", timed(queue.queue_items, args.repeat)))
        if isinstance(queue, SqliteJobStore) and queue.path is not None:
            path = queue.path

            def first_call_after_reopen() -> None:
                with SqliteJobStore(path) as reopened:
                    started = time.perf_counter()
                    assert len(reopened.queue_items()[1]) == PENDING
                    cold.append((time.perf_counter() - started) * 1000)

            cold: list[float] = []
            timed(first_call_after_reopen, args.repeat)
            rows.append(("queue_items, first call after reopen (2,000 pending)", cold))
        queue.close()

        jobs = open_store(args.store, Path(folder))
        for index in range(ROWS - 300):
            job = jobs.add(new_job(index, jobs.next_number()))
            jobs.claim_next("w0", 1_764_000_000_000 + index)
            jobs.finish(job.id, finished(job.id, STATES[index % len(STATES)], 1_764_000_000_000 + index * 7 % 5000))
        for index in range(ROWS - 300, ROWS):
            jobs.add(new_job(index, jobs.next_number()))
        jobs.claim_next("w0", 0)
        calls: list[tuple[str, Callable[[], object]]] = [
            ("list_jobs in_progress,pending limit=200", lambda: jobs.list_jobs(["in_progress", "pending"], limit=200)),
            ("list_jobs finished limit=64", lambda: jobs.list_jobs(["completed", "failed", "cancelled"], limit=64)),
            ("list_jobs finished limit=200", lambda: jobs.list_jobs(["completed", "failed", "cancelled"], limit=200)),
            (
                "list_jobs all by duration limit=200 offset=5000",
                lambda: jobs.list_jobs(
                    ["pending", "in_progress", "completed", "failed", "cancelled"],
                    sort_by="execution_duration",
                    offset=5000,
                    limit=200,
                ),
            ),
        ]
        page, total = jobs.list_jobs(["completed", "failed", "cancelled"], limit=200)
        assert len(page) == 200 and total == ROWS - 300, total
        for name, call in calls:
            rows.append((f"{name} (10,000 rows)", timed(call, args.repeat)))
        jobs.close()

    print(f"store {args.store}, {args.repeat} repeats, Python {sys.version.split()[0]}\n")
    print("| call | median ms | p10 ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for name, samples in rows:
        deciles = statistics.quantiles(samples, n=10)
        print(f"| {name} | {statistics.median(samples):.2f} | {deciles[0]:.2f} | {deciles[-1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
