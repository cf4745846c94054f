"""Entry points of child processes. Kept apart from `child.py` so the server never imports node code:
the spawned interpreter imports `child` itself.

Children ignore SIGINT: a terminal's Ctrl+C reaches the whole foreground process group, and stopping is the
server's (or the `impasto run` command's) decision, which it carries out by closing or killing its children.
"""

from __future__ import annotations

import os
import signal
from multiprocessing.connection import Connection

from impasto.config import Settings


def run_worker(conn: Connection, settings: Settings, worker_id: str, gpu: str | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpu is not None:  # before torch is imported: this worker sees its own GPU only, as device 0
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    elif settings.cpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from impasto.workers import child

    child.worker_main(conn, settings, worker_id)


def run_node_host(conn: Connection, settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from impasto.workers import child

    child.nodehost_main(conn, settings)
