"""The one way the service runs git: on a repository it did not write, so its own configuration runs nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TIMEOUT_SECONDS = 120
# The repository's own configuration must not run anything: no fsmonitor, hooks, pager or gpg.
# (Nor filters: files are read as raw blobs, never through checkout, archive or status.)
SAFE_OPTIONS = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.pager=cat",
                "-c", "log.showSignature=false", "-c", "protocol.allow=never")


def run_git(cwd: Path, *args: str, stdin: bytes | None = None,
            timeout: float = TIMEOUT_SECONDS) -> subprocess.CompletedProcess[bytes]:
    """`git ARGS` in `cwd`, read-only and hardened, never prompting. Raises OSError or subprocess.SubprocessError
    when git cannot run or times out; a failing command is the caller's to read from `returncode`."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"}
    return subprocess.run(["git", *SAFE_OPTIONS, *args], cwd=cwd, input=stdin, capture_output=True, env=env,
                          timeout=timeout, check=False)
