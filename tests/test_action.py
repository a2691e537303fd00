"""The GitHub Action (action.yml): its actions pinned to commit SHAs, and its scan-and-summary step, run as the
runner would run it on the bundled example, writing valid SARIF and a summary whose totals are the report's."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from paydown.analyzers.summary import totals

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "churn-model"
SCHEMA_PATH = ROOT.parent / "shared" / "sarif" / "sarif-schema-2.1.0.json"
BIN = Path(sys.executable).parent
SHA = re.compile(r"[0-9a-f]{40}")


@pytest.fixture(scope="module")
def action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _step(action: dict, step_id: str) -> dict:
    return next(step for step in action["runs"]["steps"] if step.get("id") == step_id)


def _run_step(step: dict, inputs: dict[str, str], workdir: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run a composite step's script with bash, its ${{ }} expressions filled in as the runner would."""
    def fill(value: str) -> str:
        value = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], value)
        return re.sub(r"\$\{\{\s*runner\.temp\s*\}\}", str(out), value)

    env = {**os.environ, **{k: fill(str(v)) for k, v in step.get("env", {}).items()},
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(out / "summary.md"),
           "GITHUB_OUTPUT": str(out / "output.txt"), "RUNNER_TEMP": str(out), "PAYDOWN_CACHE_DIR": str(out / "cache")}
    assert "${{" not in fill(step["run"]), "the script reads inputs from env, never from ${{ }} in its text"
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_action_is_a_composite_action_with_the_documented_inputs(action: dict) -> None:
    assert action["runs"]["using"] == "composite"
    assert {"path", "fail-on", "baseline", "config"} <= set(action["inputs"])
    install = action["runs"]["steps"][0]["run"]
    assert '-c "$GITHUB_ACTION_PATH/requirements.lock" "$GITHUB_ACTION_PATH"' in install


def test_every_action_used_is_pinned_to_a_commit_sha(action: dict) -> None:
    used = [step["uses"] for step in action["runs"]["steps"] if "uses" in step]
    assert used, "the SARIF upload is an action"
    for uses in used:
        name, _, ref = uses.partition("@")
        assert SHA.fullmatch(ref), f"{name} is pinned to {ref!r}, not a 40-hex commit SHA"
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    assert re.search(r"upload-sarif@[0-9a-f]{40} # v3\.\d+\.\d+", text), "the tag is kept in a comment"


def test_upload_is_skipped_with_a_notice_where_the_token_cannot_write(action: dict) -> None:
    upload = next(step for step in action["runs"]["steps"] if "upload-sarif" in step.get("uses", ""))
    assert upload["with"]["category"] == "paydown"
    assert "!github.event.pull_request.head.repo.fork" in upload["if"]
    notice = next(step for step in action["runs"]["steps"] if "::notice" in step.get("run", ""))
    assert "github.event.pull_request.head.repo.fork" in notice["if"]


def test_scan_step_writes_valid_sarif_and_a_summary_with_the_reports_totals(action: dict, tmp_path: Path) -> None:
    if not SCHEMA_PATH.is_file():
        pytest.fail(f"the SARIF schema is missing: expected {SCHEMA_PATH}")
    workspace = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, workspace)
    out = tmp_path / "out"
    out.mkdir()
    done = _run_step(_step(action, "scan"), {"path": ".", "baseline": "", "config": "", "fail-on": ""},
                     workspace, out)
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in (out / "output.txt").read_text().splitlines())
    sarif = json.loads(Path(outputs["sarif-file"]).read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))).validate(sarif)
    report = json.loads(Path(outputs["json-file"]).read_text(encoding="utf-8"))
    assert len(sarif["runs"][0]["results"]) == len(report["findings"]) > 0

    summary = (out / "summary.md").read_text(encoding="utf-8")
    expected = totals(report)
    total_row = next(line for line in summary.splitlines() if line.startswith("| **total**"))
    cells = [cell.strip(" *") for cell in total_row.strip("|").split("|")]
    assert cells[1:] == [str(expected["total"]), *(str(expected["priorities"][p]) for p in ("high", "medium", "low")),
                         f"{expected['effort']:g}"]
    lines = summary.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("| ---"))) + 1:lines.index(total_row)]
    kind_rows = {line.split("|")[1].strip(): int(line.split("|")[2]) for line in table}
    assert kind_rows == {row["kind"]: row["total"] for row in expected["kinds"]}
    assert f"paydown: {expected['total']} findings" in summary


def test_scan_step_with_a_baseline_lists_only_new_findings(action: dict, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    shutil.copytree(EXAMPLE, workspace)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PAYDOWN_CACHE_DIR": str(out / "cache")}
    subprocess.run([BIN / "paydown", "scan", ".", "--format", "json", "-o", str(tmp_path / "baseline.json")],
                   cwd=workspace, env=env, check=True, capture_output=True, timeout=300)
    with (workspace / "requirements.txt").open("a", encoding="utf-8") as handle:
        handle.write("torch>=2\n")
    done = _run_step(_step(action, "scan"), {"path": ".", "baseline": str(tmp_path / "baseline.json"), "config": "",
                                             "fail-on": ""}, workspace, out)
    assert done.returncode == 0, done.stderr
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert ", 1 new against the baseline" in summary
    new_section = summary.split("### New against the baseline", 1)[1].split("###", 1)[0]
    assert "torch" in new_section and "pandas" not in new_section
    sarif = json.loads((out / "paydown.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["PD201"], "code scanning gets the new one only"
