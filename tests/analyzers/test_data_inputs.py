"""Undocumented data inputs: each reader family, each way of building a path, the tricky negatives, the CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from paydown.analyzers.config import Config, DeclaredInput
from paydown.analyzers.runner import scan
from paydown.cli import Exit, main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data_inputs"
PD4 = ("PD401", "PD402")


def found(root: Path, config: Config | None = None) -> set[tuple[str, str, int]]:
    report = scan(root, config or Config(), use_cache=False, jobs=1)
    return {(f.rule_id, f.location.path, f.location.line) for f in report.findings if f.rule_id in PD4}


def scan_one(tmp_path: Path, make_repo, source: str, config: Config | None = None,
             path: str = "job.py", **extra: str) -> set[tuple[str, str, int]]:
    return found(make_repo(tmp_path, {path: source, **extra}), config)


# --- true positives: one per reader family ---------------------------------------------------------------------
FAMILIES = {
    "pandas": 'import pandas as pd\n\ndf = pd.read_csv("s3://lake/a.csv")\n',
    "polars-scan": 'import polars as pl\n\ndf = pl.scan_parquet("gs://lake/a.parquet")\n',
    "dask": 'import dask.dataframe as dd\n\ndf = dd.read_parquet("s3://lake/a/")\n',
    "pandas-read-sql": 'import pandas as pd\n\n\ndef f(con):\n    return pd.read_sql("SELECT a FROM raw.t", con)\n',
    "pandas-read-sql-table": 'import pandas as pd\n\n\ndef f(c):\n    return pd.read_sql_table("raw.t", c)\n',
    "open-read": 'with open("/data/vocab.txt") as handle:\n    words = handle.read()\n',
    "pickle-of-open": 'import pickle\n\nmodel = pickle.load(open("/models/m.pkl", "rb"))\n',
    "numpy": 'import numpy as np\n\nx = np.load("/data/emb.npy")\n',
    "torch": 'import torch\n\nstate = torch.load("/models/weights.pt")\n',
    "joblib": 'import joblib\n\nmodel = joblib.load("/models/model.joblib")\n',
    "hf-datasets-pinned": 'from datasets import load_dataset\n\nds = load_dataset("imdb", revision="e6281661")\n',
    "spark-read": 'def f(spark):\n    return spark.read.option("header", True).csv("s3://lake/c.csv")\n',
    "spark-table": 'def f(spark):\n    return spark.table("warehouse.orders")\n',
    "spark-sql": 'def f(spark):\n    return spark.sql("SELECT o.id FROM sales.orders o")\n',
    "db-api-execute": 'def f(cursor):\n    cursor.execute("SELECT id FROM crm.accounts WHERE x = 1")\n',
    "boto3": 'def f(s3):\n    return s3.get_object(Bucket="lake", Key="raw/c.json")\n',
    "fsspec": 'import fsspec\n\nwith fsspec.open("s3://lake/c.json") as f:\n    data = f.read()\n',
    "s3fs": 'def f(fs):\n    with fs.open("lake/raw/c.json", "rb") as handle:\n        return handle.read()\n',
    "requests": 'import requests\n\n\ndef f():\n    return requests.get("https://api.example.com/v1/rates").json()\n',
    "urlopen": 'from urllib.request import urlopen\n\n\ndef f():\n    return urlopen("https://data.example.com/x.csv")\n',
}
FAMILY_LINES = {"pandas-read-sql": 5, "pandas-read-sql-table": 5, "open-read": 1, "spark-read": 2,
                "spark-table": 2, "spark-sql": 2, "db-api-execute": 2, "boto3": 2, "s3fs": 2, "requests": 5,
                "urlopen": 5}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_reader_family_is_found(family: str, tmp_path: Path, make_repo) -> None:
    line = FAMILY_LINES.get(family, 3)
    assert scan_one(tmp_path, make_repo, FAMILIES[family]) == {("PD401", "job.py", line)}


@pytest.mark.parametrize(("name", "source", "line"), [
    ("mlflow-registry", 'import mlflow\n\nm = mlflow.pyfunc.load_model("models:/churn/Production")\n', 3),
    ("mlflow-run", 'import mlflow.sklearn\n\n\ndef f():\n'
                   '    return mlflow.sklearn.load_model("runs:/abc/model")\n', 5),
    ("latest-alias", 'import pandas as pd\n\ndf = pd.read_parquet("s3://lake/features/latest/")\n', 3),
    ("select-star", 'def f(cur):\n    cur.execute("SELECT * FROM crm.accounts")\n', 2),
    ("hub-unpinned", 'import datasets\n\nds = datasets.load_dataset("imdb")\n', 3),
    ("predictions", 'import pandas as pd\n\nscores = pd.read_csv("s3://other-team/churn/2024-06.csv")\n', 3),
    ("git-branch", 'import pandas as pd\n\n'
                   'df = pd.read_csv("https://raw.githubusercontent.com/o/r/main/d.csv")\n', 3),
])
def test_unstable_inputs_rank_higher(name: str, source: str, line: int, tmp_path: Path, make_repo) -> None:
    assert scan_one(tmp_path, make_repo, source) == {("PD402", "job.py", line)}


def test_import_time_read_only_counts_in_a_serving_module(tmp_path: Path, make_repo) -> None:
    handler = "\n\ndef handler(event, context):\n    return MODEL.predict(event)\n"
    source = 'import joblib\n\nMODEL = joblib.load("/models/m.joblib")\n' + handler
    assert scan_one(tmp_path, make_repo, source, path="app.py") == {("PD402", "app.py", 3)}
    guarded = 'import joblib\n\nif __name__ == "__main__":\n    joblib.load("/models/m.joblib")\n' + handler
    assert scan_one(tmp_path / "b", make_repo, guarded, path="app.py") == {("PD401", "app.py", 4)}


def test_a_word_in_the_path_is_no_evidence_of_serving_or_predictions(tmp_path: Path, make_repo) -> None:
    source = 'import joblib\n\nMODEL = joblib.load("/models/m.joblib")\n'
    assert scan_one(tmp_path, make_repo, source, path="serving/inference_api.py") == {
        ("PD401", "serving/inference_api.py", 3)}
    blend = 'import pandas as pd\n\nfirst = pd.read_csv("s3://team/preds/fold0.csv")\n'
    assert scan_one(tmp_path / "b", make_repo, blend) == {("PD401", "job.py", 3)}


# --- ways of building the path ---------------------------------------------------------------------------------
PATHS = {
    "fstring-template": 'import pandas as pd\n\n\ndef f(day):\n'
                        '    return pd.read_parquet(f"s3://b/labels/{day}.parquet")\n',
    "str-format": 'import pandas as pd\n\n\ndef f(day):\n    return pd.read_csv("s3://b/{}/x.csv".format(day))\n',
    "os-path-join": 'import os\nimport pandas as pd\n\nROOT = "/mnt/lake"\n\n\ndef f():\n'
                    '    return pd.read_csv(os.path.join(ROOT, "raw", "x.csv"))\n',
    "pathlib-div": 'from pathlib import Path\n\nimport pandas as pd\n\n\ndef f():\n'
                   '    return pd.read_csv(Path("/mnt/lake") / "raw" / "x.csv")\n',
    "local-variable": 'import pandas as pd\n\n\ndef f():\n    path = "/mnt/lake/x.csv"\n    return pd.read_csv(path)\n',
    "concatenation": 'import pandas as pd\n\nBASE = "s3://b/"\n\n\ndef f():\n    return pd.read_csv(BASE + "x.csv")\n',
    "class-constant": 'import pandas as pd\n\n\nclass Paths:\n    RAW = "s3://b/raw.csv"\n\n\n'
                      'def f():\n    return pd.read_csv(Paths.RAW)\n',
}


@pytest.mark.parametrize("way", sorted(PATHS))
def test_each_way_of_building_the_path_is_resolved(way: str, tmp_path: Path, make_repo) -> None:
    source = PATHS[way]
    line = source.count("\n")  # the read is on the last line
    assert scan_one(tmp_path, make_repo, source) == {("PD401", "job.py", line)}


def test_the_finding_names_the_resolved_template(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"job.py": PATHS["fstring-template"]})
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert [f.symbol for f in report.findings if f.rule_id == "PD401"] == ["s3://b/labels/{day}.parquet"]


def test_constants_resolve_across_modules_with_markers() -> None:
    root = FIXTURES / "pipeline"
    expected = set()
    for path in sorted(root.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "# expect: " in line:
                expected.add((line.split("# expect: ")[1].strip(), path.relative_to(root).as_posix(), number))
    assert expected and found(root) == expected


def test_one_finding_per_source_with_other_reads_related(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"a.py": FAMILIES["pandas"], "b.py": FAMILIES["pandas"]})
    report = scan(root, Config(), use_cache=False, jobs=1)
    [finding] = [f for f in report.findings if f.rule_id == "PD401"]
    assert (finding.location.path, [r.path for r in finding.related]) == ("a.py", ["b.py"])


# --- tricky negatives ------------------------------------------------------------------------------------------
def test_declared_glob_matches_templated_uri(tmp_path: Path, make_repo) -> None:
    config = Config(inputs=(DeclaredInput("labels", "s3://b/labels/*.parquet", "ml-data", "https://c"),))
    assert scan_one(tmp_path, make_repo, PATHS["fstring-template"], config) == set()


def test_declared_table_and_placeholder_owner(tmp_path: Path, make_repo) -> None:
    declared = Config(inputs=(DeclaredInput("t", "raw.t", "warehouse-team"),))
    assert scan_one(tmp_path, make_repo, FAMILIES["pandas-read-sql"], declared) == set()
    placeholder = Config(inputs=(DeclaredInput("t", "raw.t", "TODO"),))
    assert scan_one(tmp_path / "b", make_repo, FAMILIES["pandas-read-sql"], placeholder) == {("PD401", "job.py", 5)}


@pytest.mark.parametrize(("name", "files"), [
    ("write-then-read-same-template", {
        "train.py": 'def f(df, run):\n    df.to_parquet(f"out/{run}/features.parquet")\n',
        "serve.py": 'import pandas as pd\n\n\ndef g(run):\n'
                    '    return pd.read_parquet(f"out/{run}/features.parquet")\n'}),
    ("sql-table-created-by-the-repository", {
        "job.py": 'def f(cur):\n    cur.execute("CREATE TABLE feat.users AS SELECT 1 AS x")\n'
                  '    cur.execute("SELECT x FROM feat.users")\n'}),
    ("downloaded-then-read", {
        "job.py": 'import pickle\n\n\ndef f(client, run_id):\n'
                  '    client.download_artifacts(run_id, "prep", "/tmp")\n'
                  '    return pickle.load(open("/tmp/prep/p.bin", "rb"))\n'}),
    ("checked-in-file", {"data/cities.csv": "a\n",
                         "job.py": 'import pandas as pd\n\ndf = pd.read_csv("data/cities.csv")\n'}),
    ("config-and-docs-files", {"job.py": 'import yaml\n\ncfg = yaml.safe_load(open("/etc/app/config.yaml"))\n',
                               "setup.py": 'long = open("/abs/README.md").read()\n',
                               "docs/conf.py": 'import pandas as pd\n\npd.read_csv("s3://lake/x.csv")\n'}),
    ("dict-get-is-not-a-file-system", {"job.py": 'def f(self):\n    return self._fsdp_kwargs.get("device_mesh")\n'}),
    ("unknown-host-or-local-service", {"job.py": 'import requests\n\n\ndef f(self):\n'
                                                 '    requests.get(f"http://{self.host}:{self.port}/ping")\n'
                                                 '    requests.get("http://localhost:8000/health")\n'}),
    ("unknown-model-name-and-system-catalog", {
        "job.py": 'import mlflow\n\n\ndef f(name, cur):\n    mlflow.pyfunc.load_model(f"models:/{name}/1")\n'
                  '    cur.execute("SELECT 1 FROM pg_database WHERE datname = \'x\'")\n'}),
    ("tooling-in-hidden-folder-and-media", {
        ".actions/assistant.py": 'import requests\n\nrequests.get("https://github.com/o/r/archive/main.zip")\n',
        "job.py": 'import requests\n\n\ndef f():\n    return requests.get("https://img.youtube.com/vi/x/0.jpg")\n'}),
    ("execute-of-text-that-is-not-sql", {"job.py": 'def f(runner):\n    runner.execute("build all targets")\n'}),
])
def test_tricky_negatives(name: str, files: dict[str, str], tmp_path: Path, make_repo) -> None:
    assert found(make_repo(tmp_path, files)) == set()


def test_unresolved_reads_are_counted_in_stats(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"job.py": 'import argparse\nimport os\n\nimport pandas as pd\n\n\ndef main(path):\n'
                                          '    args = argparse.ArgumentParser().parse_args()\n'
                                          '    pd.read_csv(args.data)\n    pd.read_csv(os.path.join(path, "x.csv"))\n'
                                          '    pd.read_csv(os.environ["DATA"])\n'})
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert not [f for f in report.findings if f.rule_id in PD4]
    assert report.stats["data_inputs"]["unresolved_reads"] == 3


def test_broken_yaml_is_a_problem_and_other_findings_stay(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"dvc.yaml": "stages: [\n", "job.py": FAMILIES["pandas"]})
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert any(e.path == "dvc.yaml" and e.reason == "invalid-yaml" for e in report.errors)
    assert ("PD401", "job.py", 3) in {(f.rule_id, f.location.path, f.location.line) for f in report.findings}


def test_dvc_file_declares_its_output(tmp_path: Path, make_repo) -> None:
    files = {"data/raw.csv.dvc": "outs:\n- md5: abc\n  path: raw.csv\n",
             "job.py": 'import pandas as pd\n\ndf = pd.read_csv("data/raw.csv")\n'}
    assert found(make_repo(tmp_path, files)) == set()


def test_fingerprint_is_the_source_not_the_line(tmp_path: Path, make_repo) -> None:
    first = scan(make_repo(tmp_path, {"job.py": FAMILIES["pandas"]}), Config(), use_cache=False, jobs=1)
    moved = scan(make_repo(tmp_path, {"job.py": "\n" * 20 + FAMILIES["pandas"]}, name="moved"), Config(),
                 use_cache=False, jobs=1)
    assert [f.fingerprint for f in first.findings] == [f.fingerprint for f in moved.findings]


# --- `paydown inputs` ------------------------------------------------------------------------------------------
def test_inputs_text_json_and_init(tmp_path: Path, make_repo, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path, {"job.py": FAMILIES["pandas"], "train.py": PATHS["fstring-template"],
                                "dvc.yaml": "stages:\n  s:\n    cmd: x\n    deps: [data/d.csv]\n",
                                "load.py": 'import pandas as pd\n\ndf = pd.read_csv("data/d.csv")\n'})
    assert main(["inputs", str(root), "--no-cache", "-j", "1"]) == Exit.CLEAN
    text = capsys.readouterr().out
    assert "s3://lake/a.csv" in text and "s3://b/labels/{day}.parquet" in text and "declared" in text
    assert main(["inputs", str(root), "--format", "json", "--no-cache", "-j", "1"]) == Exit.CLEAN
    data = json.loads(capsys.readouterr().out)
    assert {s["uri"]: s["status"] for s in data["sources"]} == {
        "s3://lake/a.csv": "undeclared", "s3://b/labels/{day}.parquet": "undeclared", "data/d.csv": "declared"}
    assert main(["inputs", str(root), "--init", "--no-cache", "-j", "1"]) == Exit.CLEAN
    assert main(["inputs", str(root), "--init", "--no-cache", "-j", "1"]) == Exit.CLEAN  # adds nothing twice
    entries = tomllib.loads((root / ".paydown.toml").read_text())["inputs"]
    assert sorted(e["uri"] for e in entries) == ["s3://b/labels/*.parquet", "s3://lake/a.csv"]
    assert all(e["owner"] == "TODO" for e in entries)
    capsys.readouterr()
    assert main(["inputs", str(root), "--format", "json", "--no-cache", "-j", "1"]) == Exit.CLEAN
    statuses = {s["uri"]: s["status"] for s in json.loads(capsys.readouterr().out)["sources"]}
    assert statuses["s3://lake/a.csv"] == "placeholder"


def test_inputs_init_refuses_to_shadow_pyproject_config(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"job.py": FAMILIES["pandas"], "pyproject.toml": "[tool.paydown]\nexclude = []\n"})
    assert main(["inputs", str(root), "--init", "--no-cache", "-j", "1"]) == Exit.USAGE_OR_FATAL
    assert not (root / ".paydown.toml").exists()


def test_inventory_locates_notebook_reads_by_cell_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# explore"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["import os\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["import pandas as pd\n", "\n", "df = pd.read_csv('s3://bucket/raw/events.csv')\n"]},
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "explore.ipynb").write_text(json.dumps(notebook))
    assert main(["inputs", str(tmp_path), "--format", "json", "--no-cache", "-j", "1"]) == Exit.CLEAN
    (source,) = json.loads(capsys.readouterr().out)["sources"]
    assert {(s["cell"], s["line"]) for s in source["reads"]} == {(3, 3)}, "cell 3: the markdown cell counts"
    assert main(["inputs", str(tmp_path), "--no-cache", "-j", "1"]) == Exit.CLEAN
    assert "explore.ipynb:cell 3:3:" in capsys.readouterr().out


def test_each_file_of_a_dict_literal_is_its_own_source(tmp_path: Path, make_repo) -> None:
    source = ("from datasets import load_dataset\n\nfiles = {'train': 'https://files.example.org/a.jsonl',\n"
              "         'test': 'https://files.example.org/b.jsonl'}\nqa = load_dataset('json', data_files=files)\n")
    report = scan(make_repo(tmp_path, {"job.py": source}), Config(), use_cache=False, jobs=1)
    assert sorted(f.symbol for f in report.findings if f.rule_id == "PD401") == [
        "https://files.example.org/a.jsonl", "https://files.example.org/b.jsonl"]


def test_text_report_says_once_how_to_declare_inputs(tmp_path: Path, make_repo) -> None:
    from paydown.analyzers.report import render_json, render_text

    source = 'import pandas as pd\n\na = pd.read_csv("s3://lake/a.csv")\nb = pd.read_csv("s3://lake/b.csv")\n'
    report = scan(make_repo(tmp_path, {"job.py": source}), Config(), use_cache=False, jobs=1)
    text = render_text(report, width=400)
    assert text.count("paydown inputs . --init") == 1 and "[[inputs]]" in text
    assert "paydown inputs . --init" not in render_json(report)  # JSON keeps the rule's own fix text
    assert "--init" not in render_text(report, width=400, quiet=True)
    clean = scan(make_repo(tmp_path / "clean", {"job.py": "x = 1\n"}), Config(), use_cache=False, jobs=1)
    assert "--init" not in render_text(clean, width=400)


def test_library_fetched_data_sets_are_listed_by_name_not_reported(tmp_path: Path, make_repo) -> None:
    from paydown.analyzers.data_inputs.inventory import inventory_of

    source = ("import nltk\nfrom sklearn.datasets import fetch_covtype\nfrom tensorflow import keras\n"
              "from torchvision import datasets\n\nnltk.download('stopwords')\nforest = fetch_covtype()\n"
              "(x, y), _ = keras.datasets.cifar10.load_data()\n"
              "local = datasets.ImageFolder('photos')\nfetched = datasets.SVHN('cache', download=True)\n")
    root = make_repo(tmp_path, {"job.py": source})
    listed = {s.uri: s.status for s in inventory_of(root, Config(), use_cache=False).sources}
    assert listed == {"library://nltk/stopwords": "library", "library://sklearn/covtype": "library",
                      "library://keras/cifar10": "library", "library://torchvision/SVHN": "library"}
    assert found(root) == set()
