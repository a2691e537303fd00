"""`paydown fix` end to end: a copy of the bundled example pinned from a stand-in index and its dead switch
removed, --diff writing nothing, switches that can be rebound left alone, and an index that does not answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import libcst
import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import load_config
from paydown.analyzers.runner import scan
from paydown.cli import Exit, main
from paydown.fixes import FIXES, fix_for
from paydown.fixes._index import lowest_python, newest_allowed
from paydown.fixes._model import Leave, Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn-model"

PINNED_REQUIREMENTS = """\
pandas==2.2.3
scikit-learn==1.5.2
numpy==1.26.4
flask==3.1.0
pyarrow==17.0.0
s3fs==2024.10.0
SQLAlchemy==2.0.36
psycopg2-binary==2.9.9
"""


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _fix(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    closed = "http://127.0.0.1:9"  # no test reaches the real index or GitHub; a test passes its stand-in after
    code = main(["fix", str(root), "--no-cache", "--jobs", "1", "--index-url", closed, "--github-api-url", closed,
                 *args])
    out, err = capsys.readouterr()
    return code, out, err


def _rules_found(root: Path) -> set[tuple[str, str, str]]:
    report = scan(root, load_config(root, ALL_RULES), jobs=1, use_cache=False)
    return {(f.rule_id, f.location.path, f.symbol) for f in report.findings}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    copy = tmp_path / "churn-model"
    shutil.copytree(EXAMPLE, copy)
    return copy


def test_fix_pins_the_example_and_removes_its_dead_switch(capsys, example: Path, package_index,
                                                          github_api, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    before = _files(example)
    code, _, err = _fix(capsys, example, "--index-url", package_index.url, "--github-api-url", github_api.url)
    assert code == Exit.CLEAN
    after = _files(example)
    assert after["requirements.txt"].decode() == PINNED_REQUIREMENTS
    assert after["requirements-dev.txt"].decode() == "-r requirements.txt\npytest==8.3.4\n"
    assert after["Dockerfile"] == before["Dockerfile"].replace(b"RUN pip install xgboost\n",
                                                               b"RUN pip install xgboost==2.1.3\n")
    assert after[".github/workflows/ci.yml"] == before[".github/workflows/ci.yml"].replace(
        b"actions/checkout@v4", b"actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4").replace(
        b"actions/setup-python@v5", b"actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5").replace(
        b"requirements-dev.txt xgboost\n", b"requirements-dev.txt xgboost==2.1.3\n")
    for path in ("features.py", "settings.py", "train.py"):
        libcst.parse_module(after[path].decode())  # the result parses
    assert b"USE_NEW_ENCODER" not in after["settings.py"] + after["features.py"]
    assert b"_target_encode" not in after["features.py"]  # the helper only the dead branch called
    assert b"return pd.get_dummies(df, columns=CATEGORICAL_COLUMNS, dtype=float)" in after["features.py"]
    assert b"--legacy-features" not in after["train.py"]
    changed = {path for path in after if before.get(path) != after[path]}
    assert changed == {"requirements.txt", "requirements-dev.txt", "Dockerfile", ".github/workflows/ci.yml",
                       "features.py", "settings.py", "train.py", ".paydown.toml", "notebooks/explore.ipynb"}
    assert after["notebooks/explore.ipynb"] == before["notebooks/explore.ipynb"].replace(
        b'"%pip install seaborn"', b'"%pip install seaborn==0.13.2"')  # nothing else changed
    assert set(before) <= set(after)
    found = _rules_found(example)
    assert not {r for r in found if r[0] in ("PD101", "PD102", "PD203")}
    assert github_api.asked == ["/repos/actions/checkout/commits/v4", "/repos/actions/setup-python/commits/v5"]
    assert 'owner = "TODO"' in after[".paydown.toml"].decode()  # declared; reported until the team names one
    assert not {r for r in found if r[0] in ("PD201", "PD202")}
    assert "left  Dockerfile:1 PD204" in err and "fixed settings.py:15 PD101" in err


def test_the_dead_switch_fix_changes_only_the_switch(capsys, example: Path, package_index) -> None:
    before = _files(example)
    _fix(capsys, example, "--select", "PD101", "--index-url", package_index.url)
    after = _files(example)
    assert {path for path in after if before[path] != after[path]} == {"features.py", "settings.py"}
    settings_before = before["settings.py"].decode().splitlines()
    assert after["settings.py"].decode().splitlines() == settings_before[:12] + settings_before[15:]
    assert package_index.asked == []  # nothing to pin was selected


def test_diff_writes_nothing(capsys, example: Path, package_index) -> None:
    before = _files(example)
    code, out, err = _fix(capsys, example, "--diff", "--index-url", package_index.url)
    assert code == Exit.CLEAN
    assert _files(example) == before
    assert "--- a/requirements.txt\n+++ b/requirements.txt\n" in out
    assert "-pandas>=1.5\n" in out and "+pandas==2.2.3\n" in out
    assert "-    if settings.USE_NEW_ENCODER:\n" in out
    assert "nothing written (--diff)" in err


SWITCH = {
    "settings.py": '"""Settings."""\n\nUSE_FAST_PATH = False\n',
    "run.py": ('import settings\n\n\ndef run(x):\n    if settings.USE_FAST_PATH:\n        return x * 2\n'
               '    return x\n'),
}


def test_a_switch_a_configurator_can_rebind_is_never_removed(capsys, make_repo, tmp_path: Path) -> None:
    files = {**SWITCH, "configure.py": ('import settings\n\n\ndef configure(**overrides):\n'
                                        '    for key, value in overrides.items():\n'
                                        '        setattr(settings, key, value)\n')}
    root = make_repo(tmp_path, files)
    before = _files(root)
    _fix(capsys, root, "--select", "PD101")
    assert _files(root) == before


def test_the_same_switch_without_a_configurator_is_removed(capsys, make_repo, tmp_path: Path) -> None:
    root = make_repo(tmp_path, SWITCH)  # the control for the test above: the rebinding is what keeps it
    _fix(capsys, root, "--select", "PD101")
    assert (root / "run.py").read_text() == "def run(x):\n    return x\n"
    assert (root / "settings.py").read_text() == '"""Settings."""\n'


def test_an_index_that_does_not_answer_leaves_the_requirement(capsys, make_repo, tmp_path: Path,
                                                               package_index) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "pandas>=1.5  # data frames\nunheard-of-lib>=1\n",
                                "app.py": "import pandas\n"})
    code, _, err = _fix(capsys, root, "--index-url", package_index.url)
    assert code == Exit.CLEAN
    assert (root / "requirements.txt").read_text() == "pandas==2.2.3  # data frames\nunheard-of-lib>=1\n"
    assert "left  requirements.txt:2 PD201 unheard-of-lib: no version to pin to" in err
    _fix(capsys, root.parent, "--index-url", "http://127.0.0.1:9/simple/")  # a closed port
    assert "unheard-of-lib" in (root / "requirements.txt").read_text()


def test_a_closed_index_leaves_every_requirement(capsys, make_repo, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PAYDOWN_INDEX_URL", "http://127.0.0.1:9/simple/")
    root = make_repo(tmp_path, {"requirements.txt": "numpy~=1.26\n"})
    _, _, err = _fix(capsys, root)
    assert (root / "requirements.txt").read_text() == "numpy~=1.26\n"
    assert "127.0.0.1:9" in err and "does not guess" in err


def test_a_lock_or_constraints_version_comes_before_the_index(capsys, make_repo, tmp_path: Path,
                                                              package_index) -> None:
    root = make_repo(tmp_path, {"api/requirements.txt": "numpy>=1.20 ; python_version >= '3.10'\n",
                                "training/constraints.txt": "numpy==1.24.1\n"})  # a sibling's constraints
    _fix(capsys, root, "--index-url", package_index.url)
    assert (root / "api/requirements.txt").read_text() == "numpy==1.24.1 ; python_version >= '3.10'\n"
    assert package_index.asked == []


def test_pep_621_dependencies_are_pinned_in_place(capsys, make_repo, tmp_path: Path, package_index) -> None:
    pyproject = ('[project]\nname = "svc"\nversion = "1"\nrequires-python = ">=3.10"\ndependencies = [\n'
                 '    "numpy>=1.26",  # arrays\n    "torch>=2.6.0rc1",\n]\n\n[project.optional-dependencies]\n'
                 'viz = ["flask"]\n')
    root = make_repo(tmp_path, {"pyproject.toml": pyproject, "app.py": "import numpy\n"})
    _, _, err = _fix(capsys, root, "--index-url", package_index.url)
    text = (root / "pyproject.toml").read_text()
    if "PD201 numpy" not in err:
        pytest.skip("the dependency analyzer reads this project as a library and reports no range")
    assert '    "numpy==2.0.0",  # arrays\n' in text
    assert '    "torch==2.6.0rc2",\n' in text  # the specifier names a pre-release
    assert 'viz = ["flask==3.1.0"]\n' in text


def test_newest_allowed_skips_yanked_prereleases_and_other_pythons() -> None:
    from packaging.specifiers import SpecifierSet

    files = [{"filename": "lib-1.0.tar.gz"}, {"filename": "lib-1.1.tar.gz", "yanked": True},
             {"filename": "lib-1.2.tar.gz", "yanked": "security"}, {"filename": "lib-2.0b1.tar.gz"},
             {"filename": "lib-1.3-py3-none-any.whl", "requires-python": ">=3.12"},
             {"filename": "not-a-dist.txt"}]
    assert str(newest_allowed(files, SpecifierSet(""), lowest_python(">=3.10"))) == "1.0"
    assert str(newest_allowed(files, SpecifierSet(""), lowest_python(">=3.12"))) == "1.3"
    assert str(newest_allowed(files, SpecifierSet(">=2.0b1"), None)) == "2.0b1"
    assert newest_allowed(files, SpecifierSet(">=3"), None) is None


def test_a_rewrite_that_would_not_parse_is_never_kept(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    ws = Workspace(tmp_path)
    with pytest.raises(Leave):
        ws.update("a.py", "if x:\n")
    assert ws.changed() == []


def test_every_fix_serves_known_rules_once() -> None:
    known = {rule.id for rule in ALL_RULES}
    served = [rule for fix in FIXES for rule in fix.rules]
    assert len(served) == len(set(served)) and set(served) <= known
    assert all(fix.does for fix in FIXES)
    modules = {p.stem for p in (Path(__file__).resolve().parents[2] / "paydown" / "fixes").glob("[!_]*.py")}
    assert modules == {"pins", "actions", "switches", "options", "inputs"}  # one module per registered fix kind


def test_explain_says_whether_a_rule_has_a_fix(capsys) -> None:
    assert main(["explain", "PD201"]) == Exit.CLEAN
    assert "\nAutomatic fix\n  `paydown fix` pins the requirement" in capsys.readouterr().out
    assert main(["explain", "PD301"]) == Exit.CLEAN
    assert "\nAutomatic fix\n  None: `paydown fix` leaves PD301 findings" in capsys.readouterr().out
    assert fix_for("PD301") is None


def test_setup_cfg_and_spaced_specifiers_are_pinned_or_left_whole(capsys, make_repo, tmp_path: Path,
                                                                   package_index) -> None:
    setup_cfg = "[options]\ninstall_requires =\n    numpy >= 1.26\n    flask\n"
    root = make_repo(tmp_path, {"setup.cfg": setup_cfg, "setup.py": "from setuptools import setup\nsetup()\n",
                                "Dockerfile": 'FROM python:3.11\nRUN pip install "numpy >= 1.26" flask \\\n'
                                              "    pytest\n"})
    _fix(capsys, root, "--index-url", package_index.url)
    cfg = (root / "setup.cfg").read_text()
    assert cfg in (setup_cfg, "[options]\ninstall_requires =\n    numpy >= 1.26\n    flask==3.1.0\n")
    assert (root / "Dockerfile").read_text() == ('FROM python:3.11\nRUN pip install "numpy==2.0.0" flask==3.1.0 \\\n'
                                                 "    pytest==8.3.4\n")


def test_an_action_tag_github_does_not_know_is_left(capsys, make_repo, tmp_path: Path, github_api,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
    workflow = ("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4  # full history\n      - uses: acme/missing@v1\n"
                "      - uses: 'github/codeql-action/init@v3'\n")
    root = make_repo(tmp_path, {".github/workflows/ci.yml": workflow})
    _, _, err = _fix(capsys, root, "--github-api-url", github_api.url)
    text = (root / ".github/workflows/ci.yml").read_text()
    assert "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4 # full history\n" in text
    assert "      - uses: acme/missing@v1\n" in text
    assert "      - uses: 'github/codeql-action/init@df409f7d9260372bd5f19e5b04e83cb3c43714ae' # v3\n" in text
    assert "left  .github/workflows/ci.yml:7 PD203 acme/missing: the GitHub API answered 404" in err
    assert all(asked.endswith("Bearer ghp_test") for asked in github_api.asked)


def test_switches_read_through_not_elif_and_conditional_expressions(capsys, make_repo, tmp_path: Path) -> None:
    root = make_repo(tmp_path, {
        "flags.py": '"""Flags."""\n\nFAST = True\nDEBUG = False\n\nLIMIT = 3\n',
        "run.py": ("import click\n\nfrom flags import DEBUG, FAST, LIMIT\n\n\ndef step(x):\n"
                   "    if not FAST:\n        x = x + 1\n    else:\n        x = x * 2\n"
                   "    if DEBUG: print(x)\n    return min(x if FAST else -x, LIMIT)\n\n\n"
                   "@click.command()\n@click.option(\"--seed\", type=int, default=0)\n"
                   "@click.option(\"--legacy\", is_flag=True, help=\"old path\")\ndef main(seed, legacy):\n"
                   "    print(step(seed))\n"),
    })
    _, _, err = _fix(capsys, root)
    assert (root / "flags.py").read_text() == '"""Flags."""\n\nLIMIT = 3\n'
    assert (root / "run.py").read_text() == (
        "import click\n\nfrom flags import LIMIT\n\n\ndef step(x):\n    x = x * 2\n    return min(x, LIMIT)\n\n\n"
        "@click.command()\n@click.option(\"--seed\", type=int, default=0)\ndef main(seed):\n    print(step(seed))\n")
    assert "paydown: fixed 3 of 3 findings" in err


def test_a_conda_environment_pins_its_pip_list_only(capsys, make_repo, tmp_path: Path, package_index) -> None:
    root = make_repo(tmp_path, {"environment.yml": "name: x\ndependencies:\n  - python=3.11\n  - numpy>=1.26\n"
                                                   "  - pip\n  - pip:\n    - flask  # web\n"})
    _, _, err = _fix(capsys, root, "--index-url", package_index.url)
    assert (root / "environment.yml").read_text() == ("name: x\ndependencies:\n  - python=3.11\n  - numpy>=1.26\n"
                                                      "  - pip\n  - pip:\n    - flask==3.1.0  # web\n")
    assert "PD201 numpy: a conda package is pinned from its conda channel" in err


def test_poetry_and_pipfile_tables_are_pinned_in_their_own_syntax(capsys, make_repo, tmp_path: Path,
                                                                  package_index) -> None:
    poetry = ('[tool.poetry]\nname = "x"\nversion = "1"\npackage-mode = false\n\n[tool.poetry.dependencies]\n'
              'python = "^3.10"\npandas = "^1.5"  # frames\nnumpy = {version = "~1.26", extras = []}\nflask = "*"\n'
              'scikit-learn = "*"\n')  # 1.6.0 needs Python 3.11: Poetry's python = "^3.10" keeps 1.5.2
    root = make_repo(tmp_path, {"a/pyproject.toml": poetry, "b/Pipfile": '[packages]\nflask = "*"\n'})
    _fix(capsys, root, "--index-url", package_index.url)
    assert (root / "a/pyproject.toml").read_text() == poetry.replace('"^1.5"', '"1.5.3"').replace(
        '"~1.26"', '"1.26.4"').replace('flask = "*"', 'flask = "3.1.0"').replace(
        'scikit-learn = "*"', 'scikit-learn = "1.5.2"')
    assert (root / "b/Pipfile").read_text() == '[packages]\nflask = "==3.1.0"\n'


def test_a_switch_read_inside_a_larger_test_is_left(capsys, make_repo, tmp_path: Path) -> None:
    files = {"settings.py": "NUM_GPUS = 1\n",
             "train.py": ("from settings import NUM_GPUS\n\n\ndef devices(kind):\n"
                          "    if kind == \"cuda\" and NUM_GPUS > 1:\n        return list(range(NUM_GPUS))\n"
                          "    return [0]\n")}
    root = make_repo(tmp_path, files)
    _, _, err = _fix(capsys, root, "--select", "PD101")
    assert "left  settings.py:1 PD101" in err and "inside a larger expression" in err
    assert {path: (root / path).read_text() for path in files} == files


def test_a_kept_branch_that_returns_takes_the_unreachable_rest_along(capsys, make_repo, tmp_path: Path) -> None:
    root = make_repo(tmp_path, {"settings.py": "SLOW = False\n",
                                "model.py": ("from settings import SLOW\n\n\ndef f(x):\n    if SLOW:\n"
                                             "        y = x + 1\n    else:\n        return x * 2\n"
                                             "    return y\n")})
    _, _, err = _fix(capsys, root, "--select", "PD101")
    assert (root / "model.py").read_text() == "def f(x):\n    return x * 2\n", err


def test_line_endings_and_unreadable_files_are_kept(capsys, make_repo, tmp_path: Path, package_index) -> None:
    root = make_repo(tmp_path, {"requirements.txt": b"flask\r\nnumpy~=1.26\r\n",
                                "settings.py": b"SLOW = False\r\n",
                                "model.py": b"import settings\r\n\r\n\r\ndef f(x):\r\n    if settings.SLOW:\r\n"
                                            b"        return -x\r\n    return x\r\n",
                                "legacy.py": b"# caf\xe9: SLOW\r\n"})
    _fix(capsys, root, "--index-url", package_index.url)
    assert (root / "requirements.txt").read_bytes() == b"flask==3.1.0\r\nnumpy==1.26.4\r\n"
    assert (root / "model.py").read_bytes() == b"def f(x):\r\n    return x\r\n"
    assert (root / "settings.py").read_bytes() == b"SLOW = False\r\n"  # legacy.py cannot be read: kept
