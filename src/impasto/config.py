"""Settings: built once from flags and environment, passed down explicitly (never read from globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from impasto.engine.cache import CacheSettings
from impasto.paths import Folders

FRONTEND_VERSION = "1.58.1"
EMULATED_COMFYUI_VERSION = "0.3.64"


@dataclass(frozen=True, slots=True)
class Settings:
    folders: Folders
    cache: CacheSettings = field(default_factory=CacheSettings)
    disable_metadata: bool = False
    verbose: str = "INFO"
    # network
    listen: tuple[str, ...] = ("127.0.0.1",)
    port: int = 8188
    enable_cors_header: str | None = None  # allowed origin ("*" when the flag has no value)
    max_upload_size_mb: float = 100.0
    auth_token: str | None = None
    allow_remote: bool = False
    front_end_root: Path | None = None  # None: the installed comfyui-frontend-package
    # nodes and devices
    cpu: bool = False
    extra_model_paths: tuple[Path, ...] = ()
    disable_all_custom_nodes: bool = False
    whitelist_custom_nodes: tuple[str, ...] = ()
    preview_size: int = 512
    # queue and history
    data_dir: Path | None = None  # None: <user directory>/impasto
    ephemeral: bool = False
    history_max: int = 10_000
    max_queue_size: int = 10_000
    max_batch_count: int = 1000
    noop_repeat_interval_ms: int = 500  # least gap before the frontend's identical re-submission runs
    idempotency_ttl_hours: float = 24.0  # how long an Idempotency-Key's answer is kept
    requeue_interrupted: bool = False
    startup_queue_state: str = "last"  # run | paused | last
    progress_interval_ms: int = 50
    workers: int = 1
    interrupt_grace: float = 5.0
    worker_heartbeat_timeout: float = 30.0
    job_time_limit: float | None = None  # seconds; enforced by force stop
    worker_recycle_jobs: int | None = None  # restart a worker after this many jobs
    worker_recycle_rss_mb: float | None = None  # restart a worker after a job that left it above this RSS
    emulated_comfyui_version: str = EMULATED_COMFYUI_VERSION
    quick_test_for_ci: bool = False

    @classmethod
    def defaults(cls, base: Path | None = None) -> Settings:
        return cls(folders=Folders.from_base(base or Path.cwd()))

    @property
    def state_dir(self) -> Path:
        """Where the queue store and impasto's other state live."""
        return self.data_dir if self.data_dir is not None else self.folders.user / "impasto"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_size_mb * 1024 * 1024)
