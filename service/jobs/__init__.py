"""Jobs: the queues, the job functions RQ runs and `JOBS`, the registry mapping each kind of job to its function
and queue; `init_worker`, the one set-up of a worker process; scanning a repository and fetching its code.

Every job function is exported here too: jobs queued before the registry name `paydown.service.jobs.run_scan`, ..."""

from __future__ import annotations

from .fetch import Extracted, FetchError, extract_tarball, job_folder
from .queues import KEY_PREFIX, QUEUE_NAMES, JobLock, Queues, connect, get_queues, queues_for
from .tasks import (
    JOBS,
    AlreadyQueued,
    JobKind,
    JobRequest,
    enqueue,
    enqueue_once,
    horse_killed,
    init_worker,
    record_failure,
    reset_context,
    run_forget_installation,
    run_forget_repositories,
    run_install,
    run_issue_event,
    run_milestone_event,
    run_rerun,
    run_review,
    run_scan,
)

__all__ = [
    "JOBS",
    "KEY_PREFIX",
    "QUEUE_NAMES",
    "AlreadyQueued",
    "Extracted",
    "FetchError",
    "JobKind",
    "JobLock",
    "JobRequest",
    "Queues",
    "connect",
    "enqueue",
    "enqueue_once",
    "extract_tarball",
    "get_queues",
    "horse_killed",
    "init_worker",
    "job_folder",
    "queues_for",
    "record_failure",
    "reset_context",
    "run_forget_installation",
    "run_forget_repositories",
    "run_install",
    "run_issue_event",
    "run_milestone_event",
    "run_rerun",
    "run_review",
    "run_scan",
]
