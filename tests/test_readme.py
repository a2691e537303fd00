"""The README opens with the two commands a new machine runs, and CI runs the second one."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv [^\n]+)\n```", text)


def test_readme_opens_with_run_and_test_commands() -> None:
    commands = _commands()
    assert len(commands) >= 2
    run, test = commands[:2]
    assert "paydown scan examples/" in run
    assert "pytest" in test and "pytest" not in run


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    line = next(line for line in script.splitlines() if line.startswith("test_command="))
    found = subprocess.run(["bash", "-c", line.split("=", 1)[1].strip()[2:-1]], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
    assert found == _commands()[1]
