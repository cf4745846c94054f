"""ComfyUI's command-line flags, with ComfyUI's meanings, parsed once into Settings (http-api.md §8)."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.config import Settings
from impasto.engine.cache import CacheMode, CacheSettings
from impasto.paths import Folders
from impasto.paths_yaml import apply_extra_model_paths
from impasto.workers.gpus import visible_gpus


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="impasto", description="A ComfyUI-compatible workflow server.")
    add = parser.add_argument
    add("--listen", nargs="?", const="0.0.0.0,::", default="127.0.0.1", metavar="IP[,IP]", help="addresses to serve")
    add("--port", type=int, default=8188)
    add("--enable-cors-header", nargs="?", const="*", default=None, metavar="ORIGIN")
    add("--max-upload-size", type=float, default=100.0, metavar="MB")
    add("--base-directory", type=Path, default=None, help="parent of input/, output/, temp/, user/, models/")
    add("--output-directory", type=Path, default=None)
    add("--input-directory", type=Path, default=None)
    add("--temp-directory", type=Path, default=None)
    add("--user-directory", type=Path, default=None)
    add("--extra-model-paths-config", type=Path, nargs="+", action="extend", default=[], metavar="PATH")
    add("--front-end-root", type=Path, default=None)
    add("--cpu", action="store_true", help="run workers on the CPU")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true", help="drop outputs the next run does not use")
    cache.add_argument("--cache-lru", type=int, metavar="N", default=None, help="keep at most N outputs")
    cache.add_argument("--cache-none", action="store_true", help="keep nothing between runs")
    cache.add_argument(
        "--cache-ram", type=float, nargs="?", const=-1.0, default=None, metavar="GB", help="evict below GB free RAM"
    )
    add("--disable-all-custom-nodes", action="store_true")
    add("--whitelist-custom-nodes", nargs="+", default=[], metavar="NAME")
    add("--disable-metadata", action="store_true", help="SaveImage writes no workflow metadata")
    add("--preview-size", type=int, default=512)
    add(
        "--verbose", nargs="?", const="DEBUG", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    )
    add("--quick-test-for-ci", action="store_true", help="start up (load the nodes), then exit")
    # impasto's own
    add("--data-dir", type=Path, default=None, help="where the queue store lives (default <user dir>/impasto)")
    add("--ephemeral", action="store_true", help="keep the queue store in memory (nothing persists)")
    add("--workers", type=int, default=None, help="worker processes (default: one per visible GPU, else 1)")
    add("--history-max", type=int, default=10_000)
    add("--max-queue-size", type=int, default=10_000)
    add("--max-batch-count", type=int, default=1000, help="most runs one server-side batch may ask for")
    add("--noop-repeat-interval-ms", type=int, default=500, metavar="MS", help="pace the frontend's identical re-runs")
    add("--idempotency-ttl", type=float, default=24.0, metavar="HOURS", help="keep Idempotency-Key answers this long")
    add("--requeue-interrupted", action="store_true", help="re-queue jobs that were running when the server died")
    add("--startup-queue-state", choices=["run", "paused", "last"], default="last", help="queue state at start-up")
    add("--progress-interval-ms", type=int, default=50)
    add("--interrupt-grace", type=float, default=5.0, metavar="SECONDS")
    add("--worker-heartbeat-timeout", type=float, default=30.0, metavar="SECONDS")
    add("--job-time-limit", type=float, default=None, metavar="SECONDS", help="force-stop jobs running longer")
    add("--worker-recycle-jobs", type=int, default=None, metavar="N", help="restart a worker after N jobs")
    add("--worker-recycle-rss", type=float, default=None, metavar="MB", help="restart a worker that grew beyond MB")
    add("--auth-token", default=None)
    add("--allow-remote", action="store_true")
    add("--workflow", type=Path, default=None, help="run this API-format workflow headless and exit (no server)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    base = args.base_directory or Path.cwd()
    folders = Folders.from_base(
        base,
        input=args.input_directory,
        output=args.output_directory,
        temp=args.temp_directory,
        user=args.user_directory,
    )
    for config in args.extra_model_paths_config:
        folders = apply_extra_model_paths(folders, config)
    return Settings(
        folders=folders,
        cache=_cache(args),
        disable_metadata=args.disable_metadata,
        verbose=args.verbose,
        listen=tuple(a.strip() for a in args.listen.split(",") if a.strip()),
        port=args.port,
        enable_cors_header=args.enable_cors_header,
        max_upload_size_mb=args.max_upload_size,
        auth_token=args.auth_token,
        allow_remote=args.allow_remote,
        front_end_root=args.front_end_root,
        cpu=args.cpu,
        extra_model_paths=tuple(args.extra_model_paths_config),
        disable_all_custom_nodes=args.disable_all_custom_nodes,
        whitelist_custom_nodes=tuple(args.whitelist_custom_nodes),
        preview_size=args.preview_size,
        data_dir=args.data_dir,
        ephemeral=args.ephemeral,
        history_max=args.history_max,
        max_queue_size=args.max_queue_size,
        max_batch_count=args.max_batch_count,
        idempotency_ttl_hours=args.idempotency_ttl,
        noop_repeat_interval_ms=args.noop_repeat_interval_ms,
        requeue_interrupted=args.requeue_interrupted,
        startup_queue_state=args.startup_queue_state,
        progress_interval_ms=args.progress_interval_ms,
        workers=args.workers if args.workers is not None else (1 if args.cpu else max(1, len(visible_gpus()))),
        interrupt_grace=args.interrupt_grace,
        worker_heartbeat_timeout=args.worker_heartbeat_timeout,
        job_time_limit=args.job_time_limit,
        worker_recycle_jobs=args.worker_recycle_jobs,
        worker_recycle_rss_mb=args.worker_recycle_rss,
        quick_test_for_ci=args.quick_test_for_ci,
    )


def _cache(args: argparse.Namespace) -> CacheSettings:
    if args.cache_none:
        return CacheSettings(CacheMode.NONE)
    if args.cache_lru is not None:
        return CacheSettings(CacheMode.LRU, lru_size=args.cache_lru)
    if args.cache_ram is not None:
        return CacheSettings(CacheMode.RAM, ram_headroom_gb=None if args.cache_ram < 0 else args.cache_ram)
    return CacheSettings()
