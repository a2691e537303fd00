"""The job registry is complete, and every job keeps the dotted name jobs already in Redis were queued under."""

from __future__ import annotations

import importlib
import inspect

from paydown.service import jobs
from paydown.service.jobs import tasks


def test_every_job_function_is_registered_once() -> None:
    functions = {name for name, value in inspect.getmembers(tasks, inspect.isfunction)
                 if name.startswith("run_") and value.__module__ == tasks.__name__}
    registered = [kind.function.__name__ for kind in jobs.JOBS.values()]
    assert sorted(registered) == sorted(functions)
    assert all(name == kind.name for name, kind in jobs.JOBS.items())


def test_every_kind_waits_in_a_queue_the_workers_listen_to() -> None:
    assert {kind.queue for kind in jobs.JOBS.values()} <= set(jobs.QUEUE_NAMES)


def test_a_job_queued_by_the_previous_version_still_finds_its_function() -> None:
    """Before the registry, jobs were queued as `paydown.service.jobs.<function>`; RQ imports that name to run them."""
    package = importlib.import_module("paydown.service.jobs")
    for kind in jobs.JOBS.values():
        assert getattr(package, kind.function.__name__) is kind.function
