"""Jobs: the queues, the job functions RQ runs (by their dotted names here: `paydown.service.jobs.run_scan`, ...),
scanning a repository and fetching its code."""

from __future__ import annotations

from .fetch import Extracted, FetchError, extract_tarball, job_folder
from .queues import KEY_PREFIX, JobLock, Queues, connect, get_queues, queues_for
from .tasks import (
    JOB_KINDS,
    AlreadyQueued,
    JobRequest,
    configure,
    enqueue,
    enqueue_once,
    horse_killed,
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
    "JOB_KINDS",
    "KEY_PREFIX",
    "AlreadyQueued",
    "Extracted",
    "FetchError",
    "JobLock",
    "JobRequest",
    "Queues",
    "configure",
    "connect",
    "enqueue",
    "enqueue_once",
    "extract_tarball",
    "get_queues",
    "horse_killed",
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
