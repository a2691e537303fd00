"""SARIF 2.1.0 output: valid against the official schema, with rule metadata, fingerprints and notifications."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import Config
from paydown.analyzers.report import render_sarif
from paydown.analyzers.runner import scan
from paydown.cli import main

# CI runs in a fresh clone with `shared/` beside the repository: <repo root>/../shared.
SCHEMA_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "sarif" / "sarif-schema-2.1.0.json"

NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": ["%pip install pandas\n"]}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
FILES = {
    "requirements.txt": "numpy>=1.2\npandas\n",
    "src/broken.py": "def broken(:\n",
    "notebooks/eda.ipynb": NOTEBOOK,
    "ok.py": "x = 1\n",
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    if not SCHEMA_PATH.is_file():
        pytest.fail(f"the SARIF schema is missing: expected {SCHEMA_PATH} (the shared/ folder beside the repository)")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.fixture
def sarif(tmp_path: Path, make_repo, capsys) -> dict:
    root = make_repo(tmp_path, FILES)
    assert main(["scan", str(root), "--format", "sarif", "--no-cache", "-j", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def _errors(validator: jsonschema.Draft4Validator, document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_sarif_validates_against_the_schema(validator, sarif: dict) -> None:
    assert _errors(validator, sarif) == []
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"]) == 1


def test_empty_report_validates(validator, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"ok.py": "x = 1\n"})
    document = json.loads(render_sarif(scan(root, Config(), use_cache=False, jobs=1)))
    assert _errors(validator, document) == []
    assert document["runs"][0]["results"] == []


def test_the_validator_rejects_a_broken_document(validator, sarif: dict) -> None:
    sarif["runs"][0]["results"][0]["level"] = "catastrophic"
    assert _errors(validator, sarif)


def test_driver_describes_every_registered_rule(sarif: dict) -> None:
    driver = sarif["runs"][0]["tool"]["driver"]
    assert driver["name"] == "paydown" and driver["version"]
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert set(rules) == {rule.id for rule in ALL_RULES}
    assert len(driver["rules"]) == len(ALL_RULES)
    for rule in ALL_RULES:
        described = rules[rule.id]
        assert described["name"] == rule.name
        assert described["shortDescription"]["text"] == rule.summary
        assert described["help"]["text"].strip()
        assert rule.fix.split()[0] in described["help"]["text"]


def test_results_carry_rule_fingerprint_and_relative_location(sarif: dict) -> None:
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert results
    uris = set()
    for result in results:
        assert result["ruleId"]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"] and all(result["partialFingerprints"].values())
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        uri = artifact["uri"]
        assert not uri.startswith("/") and "://" not in uri and not uri.startswith("file:"), uri
        assert artifact.get("uriBaseId") == "%SRCROOT%"
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        uris.add(uri)
    assert "requirements.txt" in uris
    assert len({next(iter(r["partialFingerprints"].values())) for r in results}) == len(results)


def test_notebook_result_carries_its_cell(sarif: dict) -> None:
    notebook = [r for r in sarif["runs"][0]["results"]
                if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "notebooks/eda.ipynb"]
    assert notebook, "the notebook's %pip magic should give a result"
    assert notebook[0]["locations"][0]["properties"]["notebookCell"] == 1
    assert notebook[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1


def test_file_errors_are_tool_execution_notifications(sarif: dict) -> None:
    invocation = sarif["runs"][0]["invocations"][0]
    notifications = invocation["toolExecutionNotifications"]
    assert [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notifications] \
        == ["src/broken.py"]
    assert notifications[0]["descriptor"]["id"] == "syntax-error"
    assert "src/broken.py" in notifications[0]["message"]["text"]


def test_suppression_warnings_are_notifications_that_validate(validator, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": ("numpy>=1.2  # paydown: ignore[PD2O1]\n"
                                                     "pandas==2.0  # paydown: ignore\n")})
    document = json.loads(render_sarif(scan(root, Config(), use_cache=False, jobs=1)))
    assert _errors(validator, document) == []
    notifications = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [(n["descriptor"]["id"], n["level"]) for n in notifications] == [("unknown-suppression", "warning"),
                                                                            ("unused-suppression", "warning")]


def test_a_folder_inside_a_repository_is_named_from_the_repositorys_top(capsys, tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"ml/requirements.txt": "numpy>=1.2\n", "ml/src/broken.py": "def broken(:\n"})
    assert main(["scan", str(root / "ml"), "--format", "sarif", "--no-cache", "-j", "1"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}
    assert uris == {"ml/requirements.txt"}, "code scanning reads URIs from the repository's root"
    notified = run["invocations"][0]["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]
    assert notified["artifactLocation"]["uri"] == "ml/src/broken.py"
