"""With two workers, a free worker takes a job whose model it already holds over one another worker holds."""

from __future__ import annotations

import pytest

from tests.integration.test_server_process import wait_for
from tests.support import loader_nodes
from tests.support.server_process import ServerProcess

pytestmark = pytest.mark.slow


def uses(model: str, tag: int) -> dict:
    return {
        "1": {"class_type": "SlowLoader", "inputs": {"ckpt_name": model}},
        "2": {"class_type": "UseModel", "inputs": {"model": ["1", 0], "tag": tag}},
    }


def test_a_free_worker_prefers_a_job_for_the_model_it_holds(tmp_path):
    base = tmp_path / "base"
    loader_nodes.install(base)
    server = ServerProcess(base, "--workers", "2").start()
    try:
        ready = lambda: [w for w in server.request("GET", "/api/impasto/queue")[1]["workers"] if w["state"] == "idle"]  # noqa: E731
        wait_for(lambda: len(ready()) == 2, timeout=120)

        def run_all(prompts: list[dict]) -> list[str]:
            ids = [server.request("POST", "/prompt", {"prompt": p})[1]["prompt_id"] for p in prompts]
            for prompt_id in ids:
                wait_for(lambda p=prompt_id: server.request("GET", f"/history/{p}")[1], timeout=60)
            return [server.request("GET", f"/api/impasto/jobs/{i}")[1]["worker"] for i in ids]

        warm_x, warm_y = run_all([uses("x", 0), uses("y", 0)])
        assert warm_x != warm_y  # both workers ran one model each
        assert server.request("POST", "/api/impasto/queue/pause")[0] == 200
        ids = [server.request("POST", "/prompt", {"prompt": p})[1]["prompt_id"] for p in (uses("y", 1), uses("x", 1))]
        wait_for(lambda: len(ready()) == 2)
        assert server.request("POST", "/api/impasto/queue/resume")[0] == 200
        for prompt_id in ids:
            wait_for(lambda p=prompt_id: server.request("GET", f"/history/{p}")[1], timeout=60)
        ran_on = [server.request("GET", f"/api/impasto/jobs/{i}")[1]["worker"] for i in ids]
        assert ran_on == [warm_y, warm_x]  # each job went where its model was loaded
    finally:
        server.stop()
