"""Finds upstream data the code reads (files, tables, buckets, APIs, other models' outputs) that nobody declared
with an owner and a contract: the data dependencies of Sculley et al., costlier than code dependencies."""

from __future__ import annotations

from ..base import Analyzer
from ..config import Config
from ..finding import AnalysisResult, Case, Finding, Impact, Kind, Location, Risk, Rule, new_finding
from ..snapshot import RepoSnapshot
from ._extract import extract_accesses as _extract_accesses
from .inventory import ANALYZER_NAME, VERSION, Site, Source
from .inventory import build_inventory as _build_inventory

_DVC = "stages:\n  train:\n    cmd: python train.py\n    deps:\n      - data/raw/customers.csv\n"
_KEDRO = "customers:\n  type: pandas.CSVDataset\n  filepath: s3://lake/raw/customers/${globals:day}.csv\n"

UNDOCUMENTED = Rule(
    id="PD401",
    name="undocumented-data-input",
    kind=Kind.UNDOCUMENTED_INPUT,
    summary="Code reads an upstream data source (a file, bucket, table, dataset or API) that is not declared "
            "with an owner in `[[inputs]]`, DVC or a Kedro catalog, and that the repository does not write itself.",
    why="Sculley et al., 'Data dependencies cost more than code dependencies': a model silently breaks when a "
        "table or file it reads changes, and nobody upstream knew it was read. Undeclared consumers cannot be "
        "warned, and nobody can say which models a schema change affects.",
    example='import pandas as pd\n\ncustomers = pd.read_parquet("s3://lake/raw/customers.parquet")\n',
    fix="Declare the input in `.paydown.toml` (`[[inputs]]` with name, uri or glob, owner and contract; "
        "`paydown inputs --init` writes the entries), or track it with DVC or a Kedro catalog.",
    cases=(
        Case("pandas-literal-path", {"etl.py": 'import pandas as pd\n\ndf = pd.read_csv("s3://lake/raw/c.csv")\n'},
             (("PD401", "etl.py", 3),)),
        Case("settings-constant-in-another-module", {
            "settings.py": 'RAW_CUSTOMERS = "s3://lake/raw/customers.parquet"\n',
            "etl.py": "import pandas as pd\n\nimport settings\n\n\ndef load():\n"
                      "    return pd.read_parquet(settings.RAW_CUSTOMERS)\n",
        }, (("PD401", "etl.py", 7),)),
        Case("fstring-template-and-sql-table", {
            "jobs/labels.py": "import polars as pl\n\n\ndef labels(day, con):\n"
                              '    frame = pl.read_parquet(f"s3://lake/labels/{day}.parquet")\n'
                              '    return con.execute("SELECT id, label FROM warehouse.labels l JOIN seen s '
                              'ON l.id = s.id")\n',
        }, (("PD401", "jobs/labels.py", 5), ("PD401", "jobs/labels.py", 6))),
        Case("url-in-a-local-bound-inside-a-module-level-block", {
            "prepare.py": "import os\n\nimport requests\n\nif not os.path.exists('input.txt'):\n"
                          "    source = 'https://data.example.org/corpora/poems.txt'\n"
                          "    text = requests.get(source).text\n",
            "fetch.py": "import requests\n\nif __name__ == '__main__':\n"
                        "    archive = 'https://data.example.org/graphs/citations.tgz'\n"
                        "    with requests.get(archive, stream=True) as response:\n"
                        "        response.raise_for_status()\n",
        }, (("PD401", "prepare.py", 7), ("PD401", "fetch.py", 5))),
        Case("files-listed-in-a-dict-or-list-literal", {
            "build.py": "from datasets import load_dataset\n\nif __name__ == '__main__':\n"
                        "    splits = {'train': 'https://files.example.org/qa/train.jsonl',\n"
                        "              'test': 'https://files.example.org/qa/test.jsonl'}\n"
                        "    qa = load_dataset('json', data_files=splits)\n",
            "rides.py": "import ray\n\nrides = ray.data.read_parquet(['s3://rides/2021.parquet', "
                        "'s3://rides/2022.parquet'])\n",
        }, (("PD401", "build.py", 6), ("PD401", "rides.py", 3))),  # two sources on each line
        Case("path-passed-to-a-helper-by-its-caller", {
            "etl.py": "import pandas as pd\n\nTRIPS = 'https://files.example.org/trips/2021-01.csv.gz'\n\n\n"
                      "def extract(url):\n    return pd.read_csv(url, compression='gzip')\n\n\n"
                      "def flow():\n    return extract(TRIPS)\n",
            "cache.py": "import os\n\nimport requests\n\n\ndef fetch(local, remote):\n"
                        "    if not os.path.exists(local):\n        with open(local, 'wb') as handle:\n"
                        "            handle.write(requests.get(remote).content)\n\n\n"
                        "def vocab():\n"
                        "    path = os.path.join(os.path.expanduser('~'), '.cache', 'toy', 'vocab.json')\n"
                        "    fetch(path, 'https://files.example.org/toy/vocab.json')\n"
                        "    with open(path) as handle:\n        return handle.read()\n",
        }, (("PD401", "etl.py", 7), ("PD401", "cache.py", 9))),
        Case("path-returned-by-a-helper", {
            "lake.py": "def orders_uri():\n    return 's3://lake/raw/orders.parquet'\n\n\n"
                       "def table_uri(name):\n    return f's3://lake/raw/{name}.parquet'\n",
            "etl.py": "import pandas as pd\n\nfrom lake import orders_uri, table_uri\n\n\n"
                      "def rates_url():\n    return 'https://rates.example.org/daily.csv'\n\n\n"
                      "def load():\n    orders = pd.read_parquet(orders_uri())\n"
                      "    rates = pd.read_csv(rates_url())\n    items = pd.read_parquet(table_uri('items'))\n"
                      "    return orders, rates, items\n",
        }, (("PD401", "etl.py", 11), ("PD401", "etl.py", 12))),
        Case("declared-in-dvc", {"dvc.yaml": _DVC,
                                 "train.py": 'import pandas as pd\n\ndf = pd.read_csv("data/raw/customers.csv")\n'}),
        Case("declared-in-kedro-catalog", {
            "conf/base/catalog.yml": _KEDRO,
            "nodes.py": 'import pandas as pd\n\n\ndef load(day):\n'
                        '    return pd.read_csv(f"s3://lake/raw/customers/{day}.csv")\n',
        }),
        Case("artifact-written-and-read-by-the-repository", {
            "paths.py": 'MODEL = "artifacts/model.joblib"\n',
            "train.py": "import joblib\n\nfrom paths import MODEL\n\n\ndef save(model):\n"
                        "    joblib.dump(model, MODEL)\n",
            "serve.py": "import joblib\n\nimport paths\n\n\ndef load():\n    return joblib.load(paths.MODEL)\n",
        }),
        Case("own-file-name-written-under-a-configurable-folder", {
            "data/poems/prepare.py": "import os\nimport pickle\n\nvocab = {}\n"
                                     "with open(os.path.join(os.path.dirname(__file__), 'vocab.pkl'), 'wb') as f:\n"
                                     "    pickle.dump(vocab, f)\n",
            "train.py": "import os\nimport pickle\n\ncorpus = 'poems'\n"
                        "with open(os.path.join('data', corpus + '_big', 'vocab.pkl'), 'rb') as f:\n"
                        "    vocab = pickle.load(f)\n",
        }),
        Case("credentials-fonts-metadata-server-and-weight-releases", {
            "auth.py": "import json\nimport pickle\n\n\ndef creds():\n"
                       "    with open('secrets/client_secret_web.json') as handle:\n        json.load(handle)\n"
                       "    with open('token.pickle', 'rb') as handle:\n        return pickle.load(handle)\n",
            "plot.py": "def font():\n    with open('assets/fonts/Inter.ttf', 'rb') as handle:\n"
                       "        return handle.read()\n",
            "cloud.py": "import requests\n\n\ndef zone():\n"
                        "    return requests.get('http://169.254.169.254/latest/meta-data/placement').text\n\n\n"
                        "def weights():\n"
                        "    return requests.get('https://api.github.com/repos/acme/detector/releases/latest').json()\n",
        }),
        Case("templated-own-output-committed-table-and-rows-it-inserted", {
            "steps/outliers.py": "import pickle\n\n\ndef run(out, split):\n"
                                 "    with open(f'{out}/{split}/outliers_{split}.p', 'wb') as handle:\n"
                                 "        pickle.dump([], handle)\n",
            "steps/submit.py": "import pickle\n\nimport pandas as pd\n\n"
                               "with open('preds/outliers_test.p', 'rb') as handle:\n    skip = pickle.load(handle)\n"
                               "first_level = pd.read_csv('blend_inputs.csv')\n",
            "results/blend_inputs.csv": "id,p\n1,0.5\n",
            "seed.py": "def seed(cursor):\n"
                       "    cursor.executemany('INSERT INTO member (name) VALUES (?)', [('a',), ('b',)])\n"
                       "    cursor.execute('SELECT id, name FROM member')\n",
        }),
        Case("file-name-chosen-at-run-time-weights-archive-and-code-host-api", {
            "prompts.py": "from pathlib import Path\n\n\ndef prompt(name):\n"
                          "    return (Path(__file__).parent / name).read_text()\n",
            "fetch.py": "import requests\n\n\ndef fetch():\n"
                        "    requests.get('https://files.example.org/team/final_weights.zip')\n"
                        "    return requests.get('https://api.github.com/repos/acme/app/git/trees/main').json()\n",
        }),
        Case("path-from-argparse-or-a-parameter", {
            "train.py": "import argparse\n\nimport pandas as pd\n\n\ndef main():\n"
                        "    parser = argparse.ArgumentParser()\n    parser.add_argument('--data')\n"
                        "    args = parser.parse_args()\n    return pd.read_csv(args.data)\n\n\n"
                        "def load(path):\n    with open(path) as handle:\n        return handle.read()\n",
        }),
        Case("extracted-member-hdf5-written-and-table-created-through-helpers", {
            "graph.py": "import tarfile\n\nimport numpy as np\nimport requests\n\n\ndef nodes(folder='toygraph'):\n"
                        "    return np.genfromtxt(f'{folder}/nodes.tsv')\n\n\n"
                        "def fetch():\n"
                        "    with requests.get('https://files.example.org/toygraph.tgz', stream=True) as r:\n"
                        "        with tarfile.open(fileobj=r.raw, mode='r:gz') as archive:\n"
                        "            archive.extractall()\n",
            "letters.py": "import zipfile\n\nimport h5py\nfrom scipy.io import loadmat\n\n\ndef process(archive):\n"
                          "    with zipfile.ZipFile(archive) as zf:\n        zf.extract('raw/letters.mat')\n"
                          "    data = loadmat('raw/letters.mat')\n"
                          "    with h5py.File('processed/letters.h5', 'w') as out:\n        out['x'] = data['x']\n\n\n"
                          "def setup():\n    with h5py.File('processed/letters.h5', 'r') as f:\n"
                          "        return f['x'][:]\n",
            "load.py": "def latest(cursor, table):\n"
                       "    return cursor.execute(f'SELECT MAX(loaded_at) FROM {table}').fetchone()\n\n\n"
                       "def create(cursor, table):\n"
                       "    cursor.execute(f'CREATE TABLE IF NOT EXISTS {table} (loaded_at TEXT)')\n\n\n"
                       "def run(cursor):\n    target = 'rides_raw'\n    latest(cursor, target)\n"
                       "    create(cursor, target)\n",
        }, (("PD401", "graph.py", 12),)),  # the archive's download, not the files unpacked from it
        Case("artifact-a-container-build-puts-beside-the-module", {
            "service/Dockerfile": "FROM python:3.12-slim@sha256:0f3a\nCOPY ./artifacts/ranker.tar.gz .\n"
                                  "RUN tar -xzf ranker.tar.gz\nCOPY ./handler/main.py ./\n"
                                  'CMD ["main.handler"]\n',
            "service/handler/main.py": "import pickle\n\nwith open('ranker.pkl', 'rb') as handle:\n"
                                       "    RANKER = pickle.load(handle)\n\n\n"
                                       "def handler(event, context):\n    return RANKER.rank(event)\n",
        }),
        Case("local-copy-of-a-warehouse-stage-file", {
            "predict.py": "import os\n\nimport joblib\n\nLOCAL = '/tmp/churn/download'\n\n\ndef fetch(session):\n"
                          "    session.file.get('@MODELS/churn/churn_v3.joblib', LOCAL)\n\n\n"
                          "def load():\n    return joblib.load(os.path.join(LOCAL, 'churn_v3.joblib'))\n",
        }),
        Case("data-set-a-library-fetches-and-checks", {
            "digits.py": "from torchvision import datasets\nimport tensorflow_datasets as tfds\n\n"
                         "train = datasets.KMNIST('cache', train=True, download=True)\n"
                         "reviews = tfds.load('imdb_reviews', split='train')\n",
        }),
        Case("read-in-tests-and-open-for-write", {
            "tests/test_etl.py": 'import pandas as pd\n\n\ndef test_it():\n    pd.read_csv("s3://lake/raw/c.csv")\n',
            "report.py": 'def write(rows):\n    with open("out/report.csv", "w") as handle:\n'
                         '        handle.write(rows)\n',
            "sample.py": 'import pandas as pd\n\ndf = pd.read_csv("tests/fixtures/sample.csv")\n',
        }),
    ),
)

UNSTABLE = Rule(
    id="PD402",
    name="unstable-data-input",
    kind=Kind.UNDOCUMENTED_INPUT,
    summary="An undeclared input that moves under the model: a `latest`/`Production` alias instead of a version, "
            "another model's output (an MLflow `models:/` or `runs:/` URI, predictions or scores), a `SELECT *`, "
            "a hub dataset or model pulled by name without a pinned revision, or a read at import time in a "
            "serving module.",
    why="Sculley et al., 'Unstable data dependencies' and 'Correction cascades': an input that changes without "
        "a version change changes the model's behaviour with no code change to review, and a model consuming "
        "another model's output inherits every retraining of it.",
    example='import mlflow\n\nscorer = mlflow.pyfunc.load_model("models:/churn/Production")\n',
    fix="Pin the input (a dated snapshot, a model version, an explicit column list, a dataset `revision=`), "
        "declare it in `[[inputs]]` with its owner and contract, and load it at startup rather than import time.",
    cases=(
        Case("another-models-output-and-latest-alias", {
            "score.py": "import mlflow\nimport pandas as pd\n\n\ndef score():\n"
                        '    model = mlflow.pyfunc.load_model("models:/churn/Production")\n'
                        '    return pd.read_parquet("s3://lake/features/latest/users.parquet")\n',
        }, (("PD402", "score.py", 6), ("PD402", "score.py", 7))),
        Case("hub-dataset-file-without-a-revision", {
            "labels.py": "from huggingface_hub import hf_hub_download, snapshot_download\n\n"
                         "REPO = 'acme/label-maps'\n\n\ndef labels():\n"
                         "    return hf_hub_download(repo_id=REPO, filename='ids.json', repo_type='dataset')\n\n\n"
                         "def pinned():\n"
                         "    return hf_hub_download('acme/label-maps-v2', 'ids.json', repo_type='dataset', "
                         "revision='3f2a91c')\n\n\n"
                         "def weights():\n    return snapshot_download('acme/segmenter')\n",
        }, (("PD402", "labels.py", 7), ("PD401", "labels.py", 11))),
        Case("select-star-and-import-time-read-in-serving", {
            "serving/app.py": "import joblib\nimport pandas as pd\nfrom fastapi import FastAPI\n\n"
                              'MODEL = joblib.load("/models/churn.joblib")\napp = FastAPI()\n\n\ndef lookup(con):\n'
                              '    return pd.read_sql("SELECT * FROM analytics.users", con)\n',
        }, (("PD402", "serving/app.py", 5), ("PD402", "serving/app.py", 10))),
        Case("words-in-a-path-are-no-evidence", {
            "lambda_inference/train_job.py": "import pandas as pd\n\n"
                                             "rows = pd.read_csv('https://files.example.org/cells/wdbc.csv')\n",
            "blend.py": "import pandas as pd\n\nfirst = pd.read_csv('s3://team/preds/fold0.csv')\n",
        }, (("PD401", "lambda_inference/train_job.py", 3), ("PD401", "blend.py", 3))),
        Case("hub-dataset-from-a-parameter-default", {
            "finetune.py": "from datasets import load_dataset\n\n\n"
                           "def train(data_path='acme/reviews-clean', epochs=3):\n"
                           "    if data_path.endswith('.json'):\n"
                           "        return load_dataset('json', data_files=data_path)\n"
                           "    return load_dataset(data_path)\n",
            "legacy.py": "from nlp import load_dataset\n\nsummaries = load_dataset('acme-howto', 'all')\n",
        }, (("PD402", "finetune.py", 7), ("PD402", "legacy.py", 3))),
        Case("file-of-a-git-branch-and-a-pinned-commit", {
            "fetch.py": "import pandas as pd\n\n"
                        "moving = pd.read_csv('https://github.com/acme/survey/raw/refs/heads/main/rows.csv')\n"
                        "pinned = pd.read_csv('https://raw.githubusercontent.com/acme/main-corpus/"
                        "9c1e5b7d2a4f6e8c0b1d3f5a7c9e1b3d5f7a9c1e/rows.csv')\n",
        }, (("PD402", "fetch.py", 3), ("PD401", "fetch.py", 4))),
        Case("hub-model-by-name-without-a-revision", {
            "tune.py": "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
                       "base = 'acme-research/tiny-lm-1b'\ntokenizer = AutoTokenizer.from_pretrained(base)\n"
                       "model = AutoModelForCausalLM.from_pretrained('acme-research/tiny-lm-2b', revision='8e1f0c2')\n",
        }, (("PD402", "tune.py", 4), ("PD401", "tune.py", 5))),
        Case("hub-model-the-repository-saves-or-holds", {
            "train.py": "from transformers import AutoModel\n\n\ndef train(trainer):\n"
                        "    trainer.save_model('poem-lm-small')\n    trainer.push_to_hub()\n\n\n"
                        "def reload():\n    return AutoModel.from_pretrained('someone/poem-lm-small')\n\n\n"
                        "def local():\n    return AutoModel.from_pretrained('checkpoints/best')\n\n\n"
                        "def chosen(path):\n    return AutoModel.from_pretrained(path)\n",
            "checkpoints/best/config.json": "{}\n",
        }),
        Case("own-registered-model-and-read-inside-a-function", {
            "train.py": "import mlflow\n\n\ndef train(model):\n"
                        '    mlflow.sklearn.log_model(model, "model", registered_model_name="churn")\n',
            "serve.py": "import mlflow\n\n\ndef load():\n"
                        '    return mlflow.pyfunc.load_model("models:/churn/Production")\n',
        }),
    ),
)

RULES: tuple[Rule, ...] = (UNDOCUMENTED, UNSTABLE)


def _impact(source: Source) -> Impact:
    extra = 0.25 * min(len(source.sites) - 1, 8)
    if source.unstable:
        return Impact(2.0, Risk.HIGH, source.unstable[0], 2.0 + extra)
    reason = "declared with a placeholder owner" if source.status == "placeholder" else "no declared owner"
    return Impact(1.0, Risk.MEDIUM, reason, 1.0 + extra)


def _finding(source: Source) -> Finding:
    first, *others = source.sites
    rule = UNSTABLE if source.unstable else UNDOCUMENTED

    def where(site: Site) -> Location:
        return Location(site.path, site.line, site.column, site.end_line, site.end_column)

    reads = f" (read {len(source.sites)} times)" if others else ""
    state = "has a placeholder owner" if source.status == "placeholder" else "is not declared"
    because = f"; unstable: {source.unstable[0]}" if source.unstable else ""
    message = f"data input {source.uri} ({first.family}){reads} {state}{because}"
    return new_finding(rule, where(first), symbol=source.uri, message=message, impact=_impact(source),
                       anchor=source.uri, scope="", related=tuple(where(site) for site in others))


def find_undocumented_inputs(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
    """One finding per upstream source read without a declaration; stats count the reads it could not resolve."""
    inventory = _build_inventory(snapshot, config)
    findings = [_finding(source) for source in inventory.sources if not source.documented]
    return AnalysisResult(findings, inventory.problems, inventory.stats())


ANALYZER = Analyzer(name=ANALYZER_NAME, version=VERSION, rules=RULES, find=find_undocumented_inputs,
                    extract=_extract_accesses)
