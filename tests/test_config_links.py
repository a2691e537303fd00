"""Configuration the scanned folder does not own: links out of it are not followed, and size caps hold."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import load_config
from paydown.cli import main

LOOSE = "numpy>=1.2\n"  # PD201, an unpinned requirement
IGNORE_IT = 'ignore = ["PD201"]\n'
BIG = 30 * 1024 * 1024


def scan_json(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["scan", str(root), "--format", "json", "--no-cache", "-j", "1", *extra])
    out = capsys.readouterr().out
    return int(code), json.loads(out) if out else {}


def errors(report: dict) -> list[tuple[str, str]]:
    return [(e["path"], e["reason"]) for e in report["errors"]]


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A scanned folder with one loose requirement, and a folder beside it that it must not reach into."""
    root, outside = tmp_path / "repo", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "requirements.txt").write_text(LOOSE, encoding="utf-8")
    return root, outside


@pytest.mark.parametrize(("name", "text"), [
    (".paydown.toml", IGNORE_IT),
    ("pyproject.toml", "[tool.paydown]\n" + IGNORE_IT),
    (".gitignore", "requirements.txt\n"),
])
def test_a_configuration_link_out_of_the_folder_is_not_honoured_and_is_reported(layout, capsys, name: str,
                                                                                text: str) -> None:
    root, outside = layout
    (outside / name.lstrip(".")).write_text(text, encoding="utf-8")
    os.symlink(outside / name.lstrip("."), root / name)
    code, report = scan_json(capsys, root)
    assert code == 0
    assert [f["rule"] for f in report["findings"]] == ["PD201"], "the outside file changed the result"
    assert errors(report) == [(name, "symlink")], "reported once"
    assert "PD201" not in load_config(root, ALL_RULES).ignore


@pytest.mark.parametrize(("name", "text"), [
    (".paydown.toml", IGNORE_IT),
    ("pyproject.toml", "[tool.paydown]\n" + IGNORE_IT),
    (".gitignore", "requirements.txt\n"),
])
def test_a_configuration_link_inside_the_folder_is_honoured(layout, capsys, name: str, text: str) -> None:
    root, _ = layout
    (root / "config").mkdir()
    (root / "config" / "shared.cfg").write_text(text, encoding="utf-8")
    os.symlink(Path("config") / "shared.cfg", root / name)
    code, report = scan_json(capsys, root)
    assert code == 0
    assert report["findings"] == []


def test_a_scanned_file_linked_out_of_the_folder_is_skipped_and_reported(layout, capsys) -> None:
    root, outside = layout
    (outside / "secret.py").write_text("PASSWORD = 'hunter2'\n", encoding="utf-8")
    os.symlink(outside / "secret.py", root / "settings.py")
    code, report = scan_json(capsys, root)
    assert code == 0
    assert errors(report) == [("settings.py", "symlink")]
    assert "hunter2" not in json.dumps(report)


def test_a_30_mb_paydown_toml_in_the_folder_is_refused_and_reported(layout, capsys) -> None:
    root, _ = layout
    with (root / ".paydown.toml").open("w", encoding="utf-8") as out:
        out.write(IGNORE_IT)
        out.write(("# padding " + "x" * 54 + "\n") * (BIG // 65))
    code, report = scan_json(capsys, root)
    assert code == 0
    assert [f["rule"] for f in report["findings"]] == ["PD201"]
    assert errors(report) == [(".paydown.toml", "too-large")]


@pytest.mark.parametrize("name", ["big.toml", "pyproject.toml"])
def test_a_30_mb_config_given_on_the_command_line_is_a_configuration_error(layout, capsys, name: str) -> None:
    root, outside = layout
    big = outside / name
    with big.open("w", encoding="utf-8") as out:
        out.write(("[tool.paydown]\n" if name == "pyproject.toml" else "") + IGNORE_IT)
        out.write(("# padding " + "x" * 54 + "\n") * (BIG // 65))
    capsys.readouterr()
    assert main(["scan", str(root), "--config", str(big), "--no-cache", "-j", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(big) in captured.err and "too large" in captured.err


def test_a_config_given_on_the_command_line_may_live_anywhere(layout, capsys) -> None:
    root, outside = layout
    (outside / "team.toml").write_text(IGNORE_IT, encoding="utf-8")
    os.symlink(outside / "team.toml", outside / "link.toml")
    code, report = scan_json(capsys, root, "--config", str(outside / "link.toml"))
    assert code == 0 and report["findings"] == [] and report["errors"] == []


def test_inputs_init_never_writes_through_a_link_out_of_the_folder(layout, capsys) -> None:
    root, outside = layout
    (root / "train.py").write_text("import pandas as pd\n\ndf = pd.read_csv('s3://warehouse/customers.csv')\n",
                                   encoding="utf-8")
    (outside / "paydown.toml").write_text(IGNORE_IT, encoding="utf-8")
    os.symlink(outside / "paydown.toml", root / ".paydown.toml")
    capsys.readouterr()
    assert main(["inputs", str(root), "--init", "--no-cache", "-j", "1"]) == 2
    assert ".paydown.toml" in capsys.readouterr().err
    assert (outside / "paydown.toml").read_text(encoding="utf-8") == IGNORE_IT


def test_a_gitignore_over_the_cap_is_not_honoured_and_is_reported(layout, capsys) -> None:
    root, _ = layout
    with (root / ".gitignore").open("w", encoding="utf-8") as out:
        out.write("requirements.txt\n")
        out.write(("# padding " + "x" * 54 + "\n") * (BIG // 65))
    code, report = scan_json(capsys, root)
    assert code == 0
    assert [f["rule"] for f in report["findings"]] == ["PD201"]
    assert errors(report) == [(".gitignore", "too-large")]
