"""Duplicated feature logic: what forms a clone group, what never does, and how divergence is told."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from paydown.analyzers.config import Config
from paydown.analyzers.duplication import RULES
from paydown.analyzers.runner import Report, scan

FEATURES = textwrap.dedent('''\
    import numpy as np
    import pandas as pd


    def build_features(df):
        df = df.copy()
        df["age"] = df["age"].fillna(0.0)
        df["ratio"] = df["income"] / df["debt"]
        df["log_income"] = np.log1p(df["income"].clip(lower=0))
        df = pd.get_dummies(df, columns=["city"])
        return df.astype("float32")
''')
RENAMED = FEATURES.replace("build_features(df)", "make_inputs(frame)").replace("df", "frame")


def _scan(make_repo, tmp_path: Path, files: dict[str, str]) -> Report:
    return scan(make_repo(tmp_path, files), Config(), use_cache=False, jobs=1)


def _found(report: Report) -> set[tuple[str, str, int]]:
    return {(f.rule_id, f.location.path, f.location.line) for f in report.findings if f.rule_id.startswith("PD3")}


def _copies(report: Report) -> list[set[tuple[str, int]]]:
    return [{(loc.path, loc.line) for loc in f.locations} for f in report.findings if f.rule_id.startswith("PD3")]


def test_exact_copies_form_one_group(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"pkg/a.py": FEATURES, "pkg/b.py": FEATURES})
    assert _found(report) == {("PD302", "pkg/a.py", 5)}
    assert _copies(report) == [{("pkg/a.py", 5), ("pkg/b.py", 5)}]


def test_renamed_variable_copies_are_clones(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"pkg/a.py": FEATURES, "pkg/b.py": RENAMED})
    assert _found(report) == {("PD302", "pkg/a.py", 5)}
    assert "identically" in report.findings[0].message  # a renamed variable is not a divergence


FIT = "\n\ndef fit(model, df, y):\n    model.fit(build_features(df), y)\n"
ROUTE = ("from flask import Flask, request\napp = Flask(__name__)\n" + RENAMED +
         "\n\n@app.post('/predict')\ndef predict():\n    return str(MODEL.predict(make_inputs(request.json)))\n")


def test_training_and_serving_entry_points_make_high_risk_skew(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"pipeline/fit_model.py": FEATURES + FIT, "web/routes.py": ROUTE})
    assert _found(report) == {("PD301", "pipeline/fit_model.py", 5)}
    assert report.findings[0].impact.risk.value == "high"


def test_roles_from_file_names_alone_are_not_high_risk(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"train.py": FEATURES, "serve.py": RENAMED})
    assert _found(report) == {("PD301", "train.py", 5)}
    assert report.findings[0].impact.risk.value == "medium"


def test_one_changed_constant_names_both_lines(make_repo, tmp_path: Path) -> None:
    serving = RENAMED.replace("fillna(0.0)", "fillna(-1.0)")
    report = _scan(make_repo, tmp_path, {"train.py": FEATURES, "api/predict.py": serving})
    assert _found(report) == {("PD301", "train.py", 5)}
    message = report.findings[0].message
    assert "fillna(0.0)" in message and "fillna(-1.0)" in message
    assert "have diverged" in message


def test_an_inserted_step_is_a_type3_clone(make_repo, tmp_path: Path) -> None:
    step = '    df["income"] = df["income"].fillna(df["income"].median())\n'
    extra = FEATURES.replace("    df = pd.get_dummies", step + "    df = pd.get_dummies")
    report = _scan(make_repo, tmp_path, {"jobs/daily.py": FEATURES, "jobs/weekly.py": extra})
    assert _found(report) == {("PD302", "jobs/daily.py", 5)}
    assert "median" in report.findings[0].message


def test_copies_inside_methods_of_different_classes(make_repo, tmp_path: Path) -> None:
    body = textwrap.indent(FEATURES.split("\n\n\n", 1)[1].replace("def build_features(df)",
                                                                   "def transform(self, df)"), "    ")
    head = "import numpy as np\nimport pandas as pd\n\n\n"
    files = {"pkg/models.py": f"{head}class Churn:\n{body}\n\nclass Upsell:\n    label = 'x'\n\n{body}"}
    report = _scan(make_repo, tmp_path, files)
    assert _found(report) == {("PD302", "pkg/models.py", 6)}
    assert {f.symbol for f in report.findings} == {"Churn.transform"}
    assert len(report.findings[0].locations) == 2


def test_three_copies_are_one_group(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"train.py": FEATURES, "batch/score.py": RENAMED, "serve.py": FEATURES})
    assert _found(report) == {("PD301", "train.py", 5)}
    assert len(report.findings[0].locations) == 3


def test_notebook_copy_against_serving_is_skew(make_repo, tmp_path: Path) -> None:
    cells = [{"cell_type": "code", "source": FEATURES.split("\n\n\n")[0]},
             {"cell_type": "code", "source": textwrap.dedent(FEATURES.split("\n\n\n")[1].split("\n", 1)[1])
              .replace("return df.astype", "df = df.astype")}]
    notebook = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    report = _scan(make_repo, tmp_path, {"explore.ipynb": notebook, "serve.py": RENAMED})
    assert {f.rule_id for f in report.findings} == {"PD301"}
    assert {loc.path for loc in report.findings[0].locations} == {"explore.ipynb", "serve.py"}


ARGPARSE = textwrap.dedent('''\
    import argparse
    import pandas as pd


    def parse_args():
        parser = argparse.ArgumentParser()
        parser.add_argument("--data", default="data.csv")
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--lr", type=float, default=0.001)
        parser.add_argument("--batch-size", type=int, default=32)
        return parser.parse_args()
''')
LOGGING = textwrap.dedent('''\
    import logging
    import pandas as pd


    def configure_logging(level):
        logger = logging.getLogger("model")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        logging.basicConfig(level=level)
        return logger
''')
TESTS = FEATURES.replace("def build_features(df)", "def test_features(df)")
HELPER = "import pandas as pd\n\n\ndef fill(df):\n    return df.fillna(0)\n"
CALL_SITE = "import pandas as pd\nfrom pkg.a import build_features\n\n\ndef run(path):\n" \
            "    df = pd.read_csv(path)\n    df = build_features(df)\n    df = df.dropna()\n    return df\n"
INIT = textwrap.dedent('''\
    import numpy as np
    import pandas as pd


    class Scaler:
        def __init__(self, frame):
            self.mean = frame["x"].mean()
            self.std = frame["x"].std()
            self.low = np.percentile(frame["x"], 1)
            self.high = np.percentile(frame["x"], 99)
            self.columns = list(frame.columns)
            self.frame = frame.fillna(0)
''')
FIELDS = textwrap.dedent('''\
    from dataclasses import dataclass, field

    import pandas as pd
    from sqlalchemy import Column, Float, Integer, String


    @dataclass
    class Features:
        age: float = 0.0
        income: float = 0.0
        debt: float = 0.0
        city: str = ""
        ratio: float = field(default=0.0)


    class Row(Base):
        id = Column(Integer, primary_key=True)
        age = Column(Float)
        income = Column(Float)
        debt = Column(Float)
        city = Column(String)
''')
# From Lightning's two __setup__.py files: string and list work on requirements, no data library.
PACKAGING = textwrap.dedent('''\
    def _prepare_extras(requirements):
        extras = {p.stem: p.read_text().splitlines() for p in requirements}
        for line in extras["strategies"]:
            clean = line.split("#")[0].strip()
            if not clean:
                continue
            extras[clean.lower().replace("-", "_")] = [line]
        extras["all"] = extras["extra"] + extras["strategies"] + extras["examples"]
        extras["dev"] = extras["all"] + extras["test"]
        return extras
''')


def test_boilerplate_never_forms_a_group(make_repo, tmp_path: Path) -> None:
    files = {
        "train_a.py": ARGPARSE, "serve_a.py": ARGPARSE,
        "pkg/log_a.py": LOGGING, "pkg/log_b.py": LOGGING,
        "tests/test_a.py": TESTS, "pkg/test_b.py": TESTS,
        "pkg/fill_a.py": HELPER, "pkg/fill_b.py": HELPER,
        "pkg/init_a.py": INIT, "pkg/init_b.py": INIT,
        "pkg/fields_a.py": FIELDS, "pkg/fields_b.py": FIELDS,
        "pkg/tools_a.py": PACKAGING, "pkg/tools_b.py": PACKAGING,
        "migrations/versions/001.py": FEATURES, "alembic/versions/002.py": FEATURES,
        "pkg/feature_pb2.py": FEATURES, "pkg/other_pb2.py": FEATURES,
    }
    assert _found(_scan(make_repo, tmp_path, files)) == set()


def test_a_function_and_its_call_site_are_not_copies(make_repo, tmp_path: Path) -> None:
    assert _found(_scan(make_repo, tmp_path, {"pkg/a.py": FEATURES, "pkg/run.py": CALL_SITE})) == set()


def test_deliberate_copies_are_one_low_group_when_asked_for(make_repo, tmp_path: Path) -> None:
    from paydown.analyzers.config import RuleSettings

    marked = FEATURES.replace("def build", "# Copied from pkg.a.build_features\ndef build")
    loud = Config(rules={rule.id: RuleSettings(None, {"report_deliberate": True}) for rule in RULES})
    lessons = {f"lab{n}/prep.py": FEATURES.replace("build_features", "prep") for n in range(1, 10)}
    for name, files, why in (("marker", {"pkg/a.py": FEATURES, "pkg/b.py": marked}, "Copied from"),
                             ("lessons", lessons, "per-lesson folders (lab1/ ... lab9/)")):
        assert _scan(make_repo, tmp_path / name / "quiet", files).findings == []
        (finding,) = scan(make_repo(tmp_path / name / "loud", files), loud, use_cache=False, jobs=1).findings
        assert finding.impact.priority.value == "low" and why in finding.message
    assert "and 6 more copies" in finding.message


def test_fingerprint_survives_inserted_lines(make_repo, tmp_path: Path) -> None:
    before = _scan(make_repo, tmp_path / "1", {"pkg/a.py": FEATURES, "pkg/b.py": RENAMED})
    shifted = FEATURES.replace("import pandas as pd\n", "import pandas as pd\n" + "X = 1\n" * 20)
    after = _scan(make_repo, tmp_path / "2", {"pkg/a.py": shifted, "pkg/b.py": RENAMED})
    assert [f.fingerprint for f in before.findings] == [f.fingerprint for f in after.findings]
    assert before.findings[0].location.line != after.findings[0].location.line


def test_unparseable_file_is_reported_and_the_group_still_found(make_repo, tmp_path: Path) -> None:
    report = _scan(make_repo, tmp_path, {"pkg/a.py": FEATURES, "pkg/b.py": RENAMED, "pkg/bad.py": "def (:\n"})
    assert _found(report) == {("PD302", "pkg/a.py", 5)}
    assert any(e.path == "pkg/bad.py" for e in report.errors)


def test_candidate_pairs_come_from_shared_fingerprints_only(make_repo, tmp_path: Path) -> None:
    files = {f"pkg/m{i}.py": FEATURES.replace("fillna(0.0)", f"fillna({i})").replace('"age"', f'"age{i}"')
             .replace("df = df.copy()", f"df = df.sample(frac=0.{i + 1}).rename(columns=str.lower)")
             .replace('df["ratio"]', f'df["r{i}"] = df["a{i}"] * {i}\n    df["ratio"]' if i % 2 else 'df["ratio"]')
             for i in range(8)}
    report = _scan(make_repo, tmp_path, files)
    stats = report.stats["duplication"]
    assert stats["candidate_pairs"] <= 8 * 7 // 2
    assert stats["groups"] >= 1


def test_thresholds_are_configurable(make_repo, tmp_path: Path) -> None:
    from paydown.analyzers.config import RuleSettings

    # Partial copies obey the thresholds; a whole function copied identically is found whatever its length.
    strict = Config(rules={rule.id: RuleSettings(None, {"min_statements": 50}) for rule in RULES})
    diverged = FEATURES.replace("fillna(0.0)", "fillna(-1.0)")
    report = scan(make_repo(tmp_path, {"pkg/a.py": FEATURES, "pkg/b.py": diverged}), strict, use_cache=False,
                  jobs=1)
    assert _found(report) == set()


def test_copy_missing_one_step_is_found(make_repo, tmp_path: Path) -> None:
    # From the bundled example: serving's copy lacks the clip() step, so no shared run reaches min_statements.
    training = textwrap.dedent('''
        import numpy as np

        NUMERIC = ["tenure", "charges", "total", "logins"]
        CATEGORICAL = ["plan", "region"]

        def clean(df):
            df = df.copy()
            df[NUMERIC] = df[NUMERIC].fillna(0.0)
            df["total"] = df["total"].clip(lower=0.0)
            df["per_month"] = df["total"] / df["tenure"].clip(lower=1)
            df["log_logins"] = np.log1p(df["logins"])
            for column in CATEGORICAL:
                df[column] = df[column].fillna("unknown").str.lower()
            return df
    ''')
    serving = textwrap.dedent('''
        import numpy as np
        from flask import Flask

        NUMERIC = ["tenure", "charges", "total", "logins"]
        CATEGORICAL = ["plan", "region"]
        app = Flask(__name__)

        def prepare(frame):
            frame = frame.copy()
            frame[NUMERIC] = frame[NUMERIC].fillna(-1.0)
            frame["per_month"] = frame["total"] / frame["tenure"].clip(lower=1)
            frame["log_logins"] = np.log1p(frame["logins"])
            for column in CATEGORICAL:
                frame[column] = frame[column].fillna("unknown").str.lower()
            return frame
    ''')
    report = _scan(make_repo, tmp_path, {"train.py": training, "serve/app.py": serving})
    (finding,) = [f for f in report.findings if f.kind.value == "duplicated-feature-logic"]
    assert finding.rule_id == "PD301"
    assert {loc.path for loc in finding.locations} == {"train.py", "serve/app.py"}


def test_a_tokenizer_copied_as_encode_and_decode_is_named_by_both(make_repo, tmp_path: Path) -> None:
    from paydown.analyzers.duplication import _cases as c

    report = _scan(make_repo, tmp_path, {"data/prepare.py": c.CHAR_PREPARE, "sample.py": c.CHAR_SAMPLE})
    (finding,) = [f for f in report.findings if f.rule_id.startswith("PD3")]
    assert "`encode` and `decode` are copied" in finding.message and "import them from" in finding.fix


def test_report_deliberate_is_a_true_or_false_option() -> None:
    import pytest

    from paydown.analyzers import ALL_RULES
    from paydown.analyzers.config import ConfigError, parse_config

    config = parse_config({"rules": {"PD302": {"report_deliberate": True}}}, "x.toml", ALL_RULES)
    assert config.option(RULES[1], "report_deliberate") is True
    assert config.option(RULES[0], "report_deliberate") is False
    with pytest.raises(ConfigError, match="report_deliberate"):
        parse_config({"rules": {"PD302": {"report_deliberate": 1}}}, "x.toml", ALL_RULES)


def test_two_functions_copied_together_are_one_finding(make_repo, tmp_path: Path) -> None:
    pair = FEATURES + textwrap.dedent('''\

        def build_all(frames):
            frames = [build_features(f) for f in frames]
            merged = pd.concat(frames).fillna(0.0)
            merged["ratio"] = merged["income"] / merged["debt"]
            merged = merged.dropna()
            merged["city"] = merged["city"].astype("category")
            return merged.astype("float32")
    ''')
    report = _scan(make_repo, tmp_path, {"pkg/a.py": pair, "pkg/b.py": pair})
    (finding,) = [f for f in report.findings if f.rule_id.startswith("PD3")]
    assert "`build_features` and `build_all`" in finding.message


def test_two_cells_of_one_notebook_are_not_a_notebook_and_its_script(make_repo, tmp_path: Path) -> None:
    from paydown.analyzers.duplication import _cases as c

    cleaning = c.notebook("import pandas as pd\n", c._CLEAN_CELL, "def show(x):\n    return x\n",
                          c._CLEAN_CELL.replace("df", "frame"))
    report = _scan(make_repo, tmp_path, {"houses.ipynb": cleaning})
    (finding,) = [f for f in report.findings if f.rule_id.startswith("PD3")]
    assert "exported" not in finding.message
