"""Notebooks are never lost whole: magics keep blocks valid, a broken cell costs only that cell, and every
location (text, JSON, SARIF, messages) names the cell as Jupyter shows it."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from paydown.analyzers.config import Config
from paydown.analyzers.runner import Report, scan
from paydown.analyzers.snapshot import take_snapshot
from paydown.cli import main

SCHEMA_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "sarif" / "sarif-schema-2.1.0.json"


def notebook(*cells: tuple[str, str], indent: int | None = 1) -> str:
    """A notebook as Jupyter saves it (one JSON token per line with ``indent=1``), from (cell type, source)."""
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }, indent=indent) + "\n"


def _scan(root: Path) -> Report:
    return scan(root, Config(), use_cache=False, jobs=1)


def _located(report: Report, rule_id: str) -> set[tuple[str, int | None, int]]:
    return {(f.location.path, f.location.cell, f.location.line) for f in report.findings if f.rule_id == rule_id}


MAGIC_BLOCKS = textwrap.dedent("""\
    USE_GPU = False
    if USE_GPU:
        %pip install cupy-cuda12x
    elif USE_GPU is None:
        !nvidia-smi
    for url in ["https://example.com/a.csv"]:
        !wget -q {url}
    try:
        !pip install pandas \\
            numpy
    except ImportError:
        pass
    with open("log.txt") as handle:
        %time handle.read()
    def setup():
        %pip install torch==2.3.1
    files = !ls data
""")


def test_magic_only_blocks_keep_the_notebook_analysed(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"setup.ipynb": notebook(("markdown", "# Setup\n"), ("code", MAGIC_BLOCKS))})
    report = _scan(root)
    assert report.errors == []
    assert _located(report, "PD101") == {("setup.ipynb", 2, 1)}, "the flag deciding a magic-only block"
    installs = [f for f in report.findings if f.rule_id == "PD202"]
    assert {(f.location.cell, f.location.line) for f in installs} >= {(2, 3), (2, 9)}
    assert any("numpy" in f.message for f in installs if f.location.line == 9), \
        "the continuation line of `!pip install` is part of the command"


def test_magics_are_replaced_line_for_line(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"setup.ipynb": notebook(("code", MAGIC_BLOCKS))})
    source = take_snapshot(root).files["setup.ipynb"]
    ast.parse(source.text)  # valid Python (parsed, never run)
    lines = source.text.splitlines()
    assert lines[2].startswith("    ") and lines[2].strip() and "%" not in lines[2], "indentation kept"
    assert lines[9].strip() == "", "a magic's continuation line is part of the magic"
    assert len(lines) >= len(MAGIC_BLOCKS.splitlines())
    assert [line for line, _ in source.magics] == [3, 5, 7, 9, 14, 16, 17]


BROKEN = (
    ("markdown", "# Training\n"),
    ("code", "DEBUG = False\n"),
    ("markdown", "The next cell was half edited.\n"),
    ("code", "def broken(:\n    pass\n"),
    ("code", "if DEBUG:\n    print('debug')\n"),
)


def test_an_unparseable_cell_is_reported_by_its_number_and_the_rest_analysed(tmp_path: Path, make_repo,
                                                                              capsys) -> None:
    root = make_repo(tmp_path, {"train.ipynb": notebook(*BROKEN), "ok.py": "x = 1\n"})
    report = _scan(root)
    assert [(e.path, e.reason, e.cell) for e in report.errors] == [("train.ipynb", "syntax-error", 4)]
    assert _located(report, "PD101") == {("train.ipynb", 2, 1)}
    assert {(loc.cell, loc.line) for f in report.findings for loc in f.related} == {(5, 1)}

    main(["scan", str(root), "--format", "json", "--no-cache", "-j", "1"])
    document = json.loads(capsys.readouterr().out)
    assert [(e["path"], e["cell"]) for e in document["errors"]] == [("train.ipynb", 4)]
    main(["scan", str(root), "--no-cache", "-j", "1"])
    text = capsys.readouterr().out
    (line,) = [line for line in text.splitlines() if "syntax-error" in line]
    assert "train.ipynb" in line and "cell 4" in line


def test_a_broken_cell_keeps_its_magics_as_dependencies(tmp_path: Path, make_repo) -> None:
    cells = (("code", "%pip install xgboost\nx = (\n"), ("code", "import os\n"))
    report = _scan(make_repo(tmp_path, {"nb.ipynb": notebook(*cells)}))
    assert [(e.path, e.cell) for e in report.errors] == [("nb.ipynb", 1)]
    assert _located(report, "PD202") == {("nb.ipynb", 1, 1)}


LOCATED = (
    ("markdown", "# Churn flags\n\nNotes first.\n"),
    ("raw", "raw text\n"),
    ("markdown", "## Settings\n"),
    ("code", "import os\nUSE_NEW = False\n"),
    ("markdown", "Use it.\n"),
    ("code", "x = 1\nif USE_NEW:\n    print('new')\n"),
)


@pytest.fixture
def located(tmp_path: Path, make_repo) -> Path:
    return make_repo(tmp_path, {"nb.ipynb": notebook(*LOCATED)})


def test_cell_numbers_count_markdown_and_raw_cells_in_text_and_json(located: Path, capsys) -> None:
    main(["scan", str(located), "--format", "json", "--no-cache", "-j", "1"])
    (finding,) = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "PD101"]
    assert (finding["path"], finding["cell"], finding["line"]) == ("nb.ipynb", 4, 2)
    assert [(loc["cell"], loc["line"]) for loc in finding["locations"]] == [(4, 2), (6, 2)]
    # The .ipynb line holding it, which the service comments and annotates on (GitHub shows the file as text).
    text = (located / "nb.ipynb").read_text(encoding="utf-8")
    held = json.loads(text.splitlines()[finding["file_line"] - 1].strip().rstrip(","))
    assert held == json.loads(text)["cells"][3]["source"][1]
    assert finding["file_line"] == finding["locations"][0]["file_line"]

    main(["scan", str(located), "--no-cache", "-j", "1"])
    text = capsys.readouterr().out
    assert "nb.ipynb:cell 4:2:1: PD101" in text
    assert "also at nb.ipynb:cell 6:2:" in text


def test_messages_cite_the_cell_never_a_flattened_line(located: Path) -> None:
    (finding,) = [f for f in _scan(located).findings if f.rule_id == "PD101"]
    # Flattened, `if USE_NEW:` is line 5 of the joined code cells; the notebook has no such place.
    assert "nb.ipynb cell 6 line 2" in finding.message
    assert "nb.ipynb:5" not in finding.message


def _sarif_region_text(root: Path, location: dict) -> str:
    region = location["physicalLocation"]["region"]
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    return (root / uri).read_text(encoding="utf-8").splitlines()[region["startLine"] - 1]


def test_sarif_points_at_the_ipynb_line_holding_the_code(located: Path, capsys) -> None:
    main(["scan", str(located), "--format", "sarif", "--no-cache", "-j", "1"])
    document = json.loads(capsys.readouterr().out)
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft4Validator(schema).iter_errors(document)) == []
    (result,) = [r for r in document["runs"][0]["results"] if r["ruleId"] == "PD101"]
    (where,) = result["locations"]
    assert "USE_NEW = False" in _sarif_region_text(located, where)
    assert where["properties"] == {"notebookCell": 4, "notebookCellLine": 2}
    (related,) = result["relatedLocations"]
    assert "if USE_NEW:" in _sarif_region_text(located, related)
    assert related["properties"] == {"notebookCell": 6, "notebookCellLine": 2}


def test_ipynb_lines_of_single_string_sources_and_one_line_notebooks(tmp_path: Path, make_repo) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Title"},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
              "source": "import os\nFLAG = False\nif FLAG:\n    print(1)\n"}]
    doc = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    pretty = json.dumps(doc, indent=1)
    root = make_repo(tmp_path, {"pretty.ipynb": pretty, "flat.ipynb": json.dumps(doc)})
    files = take_snapshot(root).files
    holder = next(n for n, text in enumerate(pretty.splitlines(), 1) if "FLAG = False" in text)
    assert [files["pretty.ipynb"].file_line(line) for line in (1, 2, 3, 4)] == [holder] * 4
    assert [files["flat.ipynb"].file_line(line) for line in (1, 2, 3, 4)] == [1] * 4
    assert files["pretty.ipynb"].cell_position(2) == (2, 2)


def test_a_notebook_duplicate_is_cited_by_cell(tmp_path: Path, make_repo) -> None:
    features = textwrap.dedent('''\
        def build_features(df):
            df = df.copy()
            df["age"] = df["age"].fillna(0.0)
            df["ratio"] = df["income"] / df["debt"]
            df["log_income"] = np.log1p(df["income"].clip(lower=0))
            df = pd.get_dummies(df, columns=["city"])
            return df.astype("float32")
    ''')
    serving = "import numpy as np\nimport pandas as pd\n\n\n" + features.replace("fillna(0.0)", "fillna(-1.0)")
    cells = (("markdown", "# Explore\n"), ("code", "import numpy as np\nimport pandas as pd\n"),
             ("markdown", "Features\n"), ("code", features))
    report = _scan(make_repo(tmp_path, {"explore.ipynb": notebook(*cells), "serve.py": serving}))
    (finding,) = [f for f in report.findings if f.rule_id.startswith("PD3")]
    assert "explore.ipynb cell 4 line 3" in finding.message, finding.message
    assert "serve.py:7" in finding.message


def test_colab_form_fields_are_set_by_people_not_constants(tmp_path: Path, make_repo) -> None:
    code = ('MODE = "train"  #@param ["train", "eval"]\nUSE_AMP = False # @param {type:"boolean"}\n'
            "#@markdown Pick the mode above.\n"
            'if MODE == "eval":\n    print("eval")\nif USE_AMP:\n    print("amp")\n')
    report = _scan(make_repo(tmp_path, {"colab.ipynb": notebook(("code", code))}))
    assert report.errors == []
    assert [f for f in report.findings if f.rule_id in ("PD101", "PD103")] == []
