"""The job queue and history: `JobStore` and its SQLite and in-memory implementations (torch-free)."""

from impasto.queue.answers import AnswerExistsError, AnswerFor, StoredAnswer
from impasto.queue.jobs import (
    ACTIVE_STATES,
    FOLD_GROUP_MAX,
    HISTORY_STATES,
    JOBS_API_STATES,
    SORT_KEYS,
    TERMINAL_STATES,
    BatchRecord,
    Cancelled,
    CancelOutcome,
    DuplicateJobError,
    Job,
    JobResult,
    JobState,
    JobSummary,
    Moved,
    MoveOutcome,
    NewJob,
    QueueFullError,
    QueueItem,
    jobs_api_status,
    status_name,
)
from impasto.queue.memory import MemoryJobStore
from impasto.queue.migrations import LATEST_VERSION, MigrationError
from impasto.queue.repeats import LIVE_REPEAT_STATES, RepeatConflict, RepeatRecord, RepeatState
from impasto.queue.sqlite import SqliteJobStore
from impasto.queue.store import JobStore

__all__ = [
    "ACTIVE_STATES",
    "FOLD_GROUP_MAX",
    "HISTORY_STATES",
    "JOBS_API_STATES",
    "LATEST_VERSION",
    "LIVE_REPEAT_STATES",
    "SORT_KEYS",
    "TERMINAL_STATES",
    "AnswerExistsError",
    "AnswerFor",
    "BatchRecord",
    "CancelOutcome",
    "Cancelled",
    "DuplicateJobError",
    "Job",
    "JobResult",
    "JobState",
    "JobStore",
    "JobSummary",
    "MemoryJobStore",
    "MigrationError",
    "MoveOutcome",
    "Moved",
    "NewJob",
    "QueueFullError",
    "QueueItem",
    "RepeatConflict",
    "RepeatRecord",
    "RepeatState",
    "SqliteJobStore",
    "StoredAnswer",
    "jobs_api_status",
    "status_name",
]
