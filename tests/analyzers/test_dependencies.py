"""The unpinned-dependency analyzer: every declared case, each file format, pins from locks, problems, fingerprints."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import Config, ConfigError, RuleSettings, load_config
from paydown.analyzers.cst import ParsedFile
from paydown.analyzers.dependencies import ANALYZER, RULES
from paydown.analyzers.finding import Case, Risk, Rule
from paydown.analyzers.runner import Report, scan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dependencies"
SHA = "0123456789abcdef0123456789abcdef01234567"
HASH = "a" * 64
EXPECT_MARKER = re.compile(r"# expect: (PD\d{3}(?:, *PD\d{3})*)")


def _write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def _scan(root: Path, config: Config | None = None) -> Report:
    return scan(root, config or Config(), use_cache=False, jobs=1)


def found(tmp_path: Path, files: dict[str, str], config: Config | None = None) -> set[tuple[str, str, int]]:
    """(rule, path, line) of every finding in a repository made of ``files``; fails on any problem."""
    report = _scan(_write(tmp_path / "repo", files), config)
    assert not report.errors, [e.to_dict() for e in report.errors]
    return {(f.rule_id, f.location.path, f.location.line) for f in report.findings}


def _notebook(*cells: list[str]) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": [line + "\n" for line in cell]} for cell in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


APPLICATION = Config(project="application")


def _with_options(rule_id: str, **options: object) -> Config:
    return Config(rules={rule_id: RuleSettings(options=options)})


CASES = [pytest.param(rule, case, id=f"{rule.id}-{case.name}") for rule in RULES for case in rule.cases]


@pytest.mark.parametrize(("rule", "case"), CASES)
def test_declared_case(rule: Rule, case: Case, tmp_path: Path) -> None:
    assert found(tmp_path, dict(case.files)) == set(case.expect)


def test_every_rule_has_a_valid_and_an_invalid_case() -> None:
    for rule in RULES:
        assert any(not case.expect for case in rule.cases), rule.id
        assert any(case.expect for case in rule.cases), rule.id
    assert [rule.id for rule in RULES] == ["PD201", "PD202", "PD203", "PD204"]


def test_realistic_repository_matches_its_expect_markers(tmp_path: Path) -> None:
    root = shutil.copytree(FIXTURES / "ml-repo", tmp_path / "ml-repo")
    expected = set()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            marker = EXPECT_MARKER.search(line)
            for rule_id in marker.group(1).replace(" ", "").split(",") if marker else ():
                expected.add((rule_id, file.relative_to(root).as_posix(), number))
    report = _scan(root, load_config(root, ALL_RULES))
    assert not report.errors
    assert {(f.rule_id, f.location.path, f.location.line) for f in report.findings} == expected


# --- requirements files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["requirements.txt", "requirements-dev.txt", "dev-requirements.txt",
                                  "requirements/prod.txt", "requirements.in", "deps/ml.in", "tools/dev.in"])
def test_requirements_files_of_any_name_are_read(tmp_path: Path, path: str) -> None:
    assert found(tmp_path, {path: "numpy>=1.2\n"}) == {("PD201", path, 1)}


def test_files_that_only_look_like_requirements_are_not_read(tmp_path: Path) -> None:
    files = {"MANIFEST.in": "include README.md\n", "Makefile.in": "all: build\n", "notes.txt": "numpy\n"}
    assert found(tmp_path, files) == set()


def test_continuations_comments_and_options_lines(tmp_path: Path) -> None:
    text = ("--index-url https://pypi.org/simple\n--extra-index-url https://example.com/simple\n--pre\n"
            "numpy \\\n    >=1.2\n"  # continued: reported on the line where it starts
            "# pandas\n"
            "scipy>=1.11  # loose on purpose\n"
            "-f https://download.pytorch.org/whl/torch_stable.html\n")
    assert found(tmp_path, {"requirements.txt": text}) == {("PD201", "requirements.txt", 4),
                                                            ("PD201", "requirements.txt", 7)}


@pytest.mark.parametrize(("line", "loose"), [
    ("torch @ https://download.pytorch.org/whl/torch-2.3.1-cp311-linux_x86_64.whl", True),
    (f"torch @ https://download.pytorch.org/whl/torch-2.3.1-cp311-linux_x86_64.whl#sha256={HASH}", False),
    ("https://example.com/pkgs/mylib-1.0.tar.gz", True),
    (f"mylib==1.0 --hash=sha256:{HASH} --hash=sha256:{'b' * 64}", False),
    (f"mylib>=1.0 --hash=sha256:{HASH}", False),
    ("mylib @ git+https://github.com/org/mylib.git", True),
    ("mylib @ git+https://github.com/org/mylib.git@v1.2", True),
    (f"mylib @ git+https://github.com/org/mylib.git@{SHA}", False),
    ("git+https://github.com/org/mylib.git@main#egg=mylib", True),
    (f"git+https://github.com/org/mylib.git@{SHA}#egg=mylib", False),
    ("-e git+https://github.com/org/mylib.git@develop#egg=mylib", True),
    ("-e ./libs/mylib", False),
    ("-e .", False),
    ("./vendor/mylib-1.0-py3-none-any.whl", False),
    ("mylib @ file:///opt/wheels/mylib-1.0.whl", False),
    ("mylib===1.0.post1", False),
    ("mylib==1.0,!=1.0.1", False),
    ('mylib[extra1,extra2]>=1 ; sys_platform == "linux" and python_version < "3.13"', True),
    ('mylib[extra1]==1.0 ; sys_platform == "linux"', False),
])
def test_requirement_forms(tmp_path: Path, line: str, loose: bool) -> None:
    expected = {("PD201", "requirements.txt", 2)} if loose else set()
    assert found(tmp_path, {"requirements.txt": "# first line\n" + line + "\n"}) == expected


def test_finding_symbol_is_the_canonical_name(tmp_path: Path) -> None:
    report = _scan(_write(tmp_path, {"requirements.txt": "Scikit_Learn>=1\n"
                                                         "git+https://github.com/org/My_Lib.git@main#egg=My_Lib\n"}))
    assert sorted(f.symbol for f in report.findings) == ["my-lib", "scikit-learn"]


def test_include_chain_reports_in_the_included_file_relative_to_the_includer(tmp_path: Path) -> None:
    files = {"requirements.txt": "--requirement=reqs/a.txt\n",
             "reqs/a.txt": "-r b-deps.txt\nrequests==2.32.3\n",
             "reqs/b-deps.txt": "\n\nnumpy>=1.2\n"}  # not a requirements name: read because it is included
    assert found(tmp_path, files) == {("PD201", "reqs/b-deps.txt", 3)}


def test_include_cycle_and_missing_include_do_not_break_the_scan(tmp_path: Path) -> None:
    files = {"requirements.txt": "-r other.txt\n-r missing.txt\n-r ../../outside.txt\nnumpy\n",
             "other.txt": "-r requirements.txt\npandas\n"}
    assert found(tmp_path, files) == {("PD201", "requirements.txt", 4), ("PD201", "other.txt", 2)}


def test_constraints_given_with_c_pin_the_including_file_and_its_includes(tmp_path: Path) -> None:
    files = {"requirements.txt": "--constraint pins/all.txt\n-r sub.txt\nnumpy>=1.2\nscipy>=1\n",
             "sub.txt": "pandas\n",
             "pins/all.txt": "numpy==1.26.4\npandas==2.2.2\nscipy>=1.11\n"}
    assert found(tmp_path, files) == {("PD201", "requirements.txt", 4)}


def test_constraints_file_pins_its_folder_only_and_is_not_itself_reported(tmp_path: Path) -> None:
    files = {"svc/constraints.txt": "numpy==1.26.4\nrequests>=2\n",
             "svc/requirements.txt": "numpy>=1.2\n",
             "svc/worker/requirements.txt": "numpy>=1.2\n",
             "other/requirements.txt": "numpy>=1.2\n"}
    assert found(tmp_path, files) == {("PD201", "other/requirements.txt", 1)}


def test_a_fully_pinned_requirements_file_locks_its_folder(tmp_path: Path) -> None:
    files = {"requirements.txt": "numpy==1.26.4\npandas==2.2.2\n",
             "pyproject.toml": '[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy>=1", "pandas", "rich"]\n'}
    assert found(tmp_path, files) == {("PD201", "pyproject.toml", 4)}
    assert [f.symbol for f in _scan(tmp_path / "repo").findings] == ["rich"]


def test_malformed_line_is_a_problem_and_the_other_lines_still_count(tmp_path: Path) -> None:
    root = _write(tmp_path, {"requirements.txt": "numpy>=1.2\nnot a requirement!!\npandas\n",
                             "requirements-dev.txt": "pytest>=8\n"})
    report = _scan(root)
    assert [(p.path, p.reason) for p in report.errors] == [("requirements.txt", "invalid-requirement")]
    assert "line 2" in report.errors[0].message
    assert {(f.location.path, f.location.line) for f in report.findings} == {
        ("requirements.txt", 1), ("requirements.txt", 3), ("requirements-dev.txt", 1)}


# --- lock files --------------------------------------------------------------------------------------------

PYPROJECT = '[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy>=1.26", "pandas>=2"]\n'


@pytest.mark.parametrize(("path", "text"), [
    ("poetry.lock", '[[package]]\nname = "numpy"\nversion = "1.26.4"\n'),
    ("uv.lock", 'version = 1\n[[package]]\nname = "NumPy"\nversion = "1.26.4"\n'),
    ("pdm.lock", '[metadata]\ngroups = ["default"]\n[[package]]\nname = "numpy"\nversion = "1.26.4"\n'),
    ("Pipfile.lock", json.dumps({"_meta": {}, "default": {"numpy": {"version": "==1.26.4"}}, "develop": {}})),
    ("requirements.lock", "numpy==1.26.4\n"),
])
def test_a_lock_file_pins_the_names_it_lists(tmp_path: Path, path: str, text: str) -> None:
    assert found(tmp_path, {"pyproject.toml": PYPROJECT, path: text}) == {("PD201", "pyproject.toml", 4)}
    report = _scan(tmp_path / "repo")
    assert [f.symbol for f in report.findings] == ["pandas"]


def test_a_lock_in_an_ancestor_folder_pins_but_one_in_a_subfolder_does_not(tmp_path: Path) -> None:
    lock = '[[package]]\nname = "numpy"\nversion = "1.26.4"\n[[package]]\nname = "pandas"\nversion = "2.2.2"\n'
    files = {"uv.lock": lock, "packages/core/pyproject.toml": PYPROJECT,
             "pyproject.toml": PYPROJECT.replace("numpy>=1.26", "torch>=2"), "tools/poetry.lock": lock,
             "requirements.txt": "numpy>=1.26\n", "other/requirements.txt": "scipy\n"}
    assert found(tmp_path, files) == {("PD201", "pyproject.toml", 4), ("PD201", "other/requirements.txt", 1)}


def test_broken_lock_file_is_a_problem_and_pins_nothing(tmp_path: Path) -> None:
    report = _scan(_write(tmp_path, {"poetry.lock": "[[package]\nname = ", "requirements.txt": "numpy>=1\n"}))
    assert [(p.path, p.reason) for p in report.errors] == [("poetry.lock", "invalid-toml")]
    assert [(f.rule_id, f.location.path) for f in report.findings] == [("PD201", "requirements.txt")]


# --- pyproject.toml ----------------------------------------------------------------------------------------

def test_pep621_dependencies_extras_and_dependency_groups(tmp_path: Path) -> None:
    text = ('[project]\nname = "m"\nversion = "1"\n'
            'dependencies = ["requests==2.32.3", "numpy>=1.26"]\n'  # 4
            "\n[project.optional-dependencies]\n"
            'serve = [\n    "fastapi",\n]\n'  # 8
            'dev = ["pytest>=8", "ruff==0.6.0"]\n'  # 10
            "\n[dependency-groups]\n"
            'test = [\n    {include-group = "lint"},\n    "coverage~=7.0",\n]\n'  # 15
            'lint = ["mypy"]\n')  # 17
    assert found(tmp_path, {"pyproject.toml": text}) == {
        ("PD201", "pyproject.toml", 4), ("PD201", "pyproject.toml", 8), ("PD201", "pyproject.toml", 10),
        ("PD201", "pyproject.toml", 15), ("PD201", "pyproject.toml", 17)}


def test_risk_follows_the_package_and_the_section(tmp_path: Path) -> None:
    text = ('[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy>=1.26", "requests>=2", "black"]\n'
            '[project.optional-dependencies]\ndocs = ["torch>=2"]\n')
    report = _scan(_write(tmp_path, {"pyproject.toml": text}))
    risks = {f.symbol: f.impact.risk for f in report.findings}
    assert risks == {"numpy": Risk.HIGH, "requests": Risk.MEDIUM, "black": Risk.LOW, "torch": Risk.LOW}
    assert all(f.impact.risk_reason and f.impact.effort_hours > 0 for f in report.findings)
    by_name = {f.symbol: f.impact for f in report.findings}
    assert by_name["numpy"].interest_hours_per_month > by_name["requests"].interest_hours_per_month
    assert by_name["black"].effort_hours > by_name["numpy"].effort_hours  # no version at all costs more


def test_poetry_dependencies_and_groups(tmp_path: Path) -> None:
    text = ("[tool.poetry]\nname = \"m\"\n\n[tool.poetry.dependencies]\n"
            'python = "^3.11"\n'  # 5: skipped
            'numpy = "^1.26"\n'  # 6
            'pandas = "~2.2"\n'  # 7
            'requests = "*"\n'  # 8
            'scipy = "1.11.4"\n'  # 9: a bare version is exact
            'torch = { version = ">=2.2", source = "pytorch" }\n'  # 10
            f'mylib = {{ git = "https://github.com/org/mylib.git", rev = "{SHA}" }}\n'
            'other = { git = "https://github.com/org/other.git", branch = "main" }\n'  # 12
            'local = { path = "../local", develop = true }\n'
            'xgboost = "2.0.*"\n'  # 14
            "\n[tool.poetry.group.dev.dependencies]\n"
            'pytest = "^8.0"\n')  # 17
    result = found(tmp_path, {"pyproject.toml": text})
    assert result == {("PD201", "pyproject.toml", n) for n in (6, 7, 8, 10, 12, 14, 17)}
    risks = {f.symbol: f.impact.risk for f in _scan(tmp_path / "repo").findings}
    assert risks["pytest"] is Risk.LOW and risks["numpy"] is Risk.HIGH


def test_broken_pyproject_is_a_problem_and_other_files_are_still_scanned(tmp_path: Path) -> None:
    root = _write(tmp_path, {"pyproject.toml": "[project\ndependencies = [", "requirements.txt": "numpy\n"})
    report = _scan(root)
    assert [(p.path, p.reason) for p in report.errors] == [("pyproject.toml", "invalid-toml")]
    assert [(f.location.path, f.location.line) for f in report.findings] == [("requirements.txt", 1)]


def test_invalid_requirement_in_pyproject_is_a_problem_with_its_line(tmp_path: Path) -> None:
    text = '[project]\nname = "m"\nversion = "1"\ndependencies = [\n  "numpy>=1",\n  "bad name!",\n]\n'
    report = _scan(_write(tmp_path, {"pyproject.toml": text}))
    assert [(p.reason, p.message.split(":")[0]) for p in report.errors] == [("invalid-requirement", "line 6")]
    assert [f.location.line for f in report.findings] == [5]


# --- setup.py and setup.cfg --------------------------------------------------------------------------------

def test_setup_py_is_read_statically(tmp_path: Path) -> None:
    text = ("import sys\nfrom setuptools import setup\nimport not_installed_anywhere\n\n"
            'BASE = ["numpy>=1.26", "requests==2.32.3"]\n'  # 5
            'ML = BASE + ["torch"]\n'  # 6
            "raise SystemExit('never run')\n"
            "setup(\n    name='m',\n    install_requires=ML,\n"
            "    extras_require={'dev': ['pytest'], 'serve': ('fastapi>=0.110',)},\n"  # 11
            "    tests_require=['hypothesis'],\n)\n")  # 12
    report = _scan(_write(tmp_path, {"setup.py": text}), APPLICATION)
    assert not report.errors
    assert {(f.symbol, f.location.line) for f in report.findings} == {
        ("numpy", 5), ("torch", 6), ("pytest", 11), ("fastapi", 11), ("hypothesis", 12)}
    risks = {f.symbol: f.impact.risk for f in report.findings}
    assert risks["hypothesis"] is Risk.LOW and risks["pytest"] is Risk.LOW and risks["fastapi"] is Risk.MEDIUM


def test_setup_calls_outside_setup_py_are_ignored(tmp_path: Path) -> None:
    text = "from setuptools import setup\nsetup(install_requires=['numpy'])\n"
    assert found(tmp_path, {"tools/build.py": text}) == set()
    module = __import__("libcst").parse_module(text)
    assert ANALYZER.extract is not None
    assert ANALYZER.extract(ParsedFile("tools/build.py", text, module)) is None
    facts = ANALYZER.extract(ParsedFile("setup.py", text, module))
    assert facts == {"requirements": [("install_requires", "numpy", 2)], "name": "", "install_files": []}


def test_setup_cfg_install_requires_and_extras(tmp_path: Path) -> None:
    text = ("[metadata]\nname = m\n\n[options]\ninstall_requires =\n    numpy>=1.26\n"  # 6
            "    requests==2.32.3\n    pandas  # comment\n"  # 8
            "\n[options.extras_require]\ntest =\n    pytest>=8\n")  # 12
    assert found(tmp_path, {"setup.cfg": text}, APPLICATION) == {
        ("PD201", "setup.cfg", 6), ("PD201", "setup.cfg", 8), ("PD201", "setup.cfg", 12)}
    # read as the published library it is, only its test extra stays: install ranges are that library's norm
    assert found(tmp_path / "library", {"setup.cfg": text}) == {("PD201", "setup.cfg", 12)}


def test_broken_setup_cfg_is_a_problem(tmp_path: Path) -> None:
    report = _scan(_write(tmp_path, {"setup.cfg": "install_requires = numpy\n", "requirements.txt": "numpy\n"}))
    assert [(p.path, p.reason) for p in report.errors] == [("setup.cfg", "invalid-cfg")]
    assert len(report.findings) == 1


# --- Pipfile and conda ---------------------------------------------------------------------------------------

def test_pipfile_packages_and_dev_packages(tmp_path: Path) -> None:
    text = ('[[source]]\nurl = "https://pypi.org/simple"\nname = "pypi"\n\n[packages]\n'
            'numpy = "*"\n'  # 6
            'pandas = "==2.2.2"\n'
            'requests = {version = ">=2", extras = ["socks"]}\n'  # 8
            'mylib = {git = "https://github.com/org/mylib.git"}\n'  # 9
            'local = {path = ".", editable = true}\n'
            '\n[dev-packages]\npytest = "*"\n')  # 13
    assert found(tmp_path, {"Pipfile": text}) == {("PD201", "Pipfile", n) for n in (6, 8, 9, 13)}


def test_pipfile_lock_pins_the_pipfile(tmp_path: Path) -> None:
    lock = json.dumps({"default": {"numpy": {"version": "==1.26.4"}}, "develop": {"pytest": {}}})
    files = {"Pipfile": '[packages]\nnumpy = "*"\n[dev-packages]\npytest = "*"\n', "Pipfile.lock": lock}
    assert found(tmp_path, files) == set()


def test_conda_environment_specs(tmp_path: Path) -> None:
    text = ("name: m\nchannels: [conda-forge]\ndependencies:\n"
            "  - python=3.11\n"  # 4: the interpreter is not reported
            "  - numpy=1.26.4\n"
            "  - scipy=1.11.4=py311h64a7726_0\n"
            "  - pandas=2.2\n"  # 7: prefix match
            "  - conda-forge::pyarrow>=15\n"  # 8
            "  - xgboost\n"  # 9
            "  - lightgbm 4.3.0\n"
            "  - pip\n  - pip:\n"
            "    - torch>=2.2\n"  # 13
            "    - transformers==4.41.2\n")
    assert found(tmp_path, {"environment.yml": text}) == {("PD201", "environment.yml", n) for n in (7, 8, 9, 13)}


def test_conda_file_names_and_a_pip_include(tmp_path: Path) -> None:
    files = {"conda/conda-gpu.yaml": "dependencies:\n  - cudatoolkit\n  - pip:\n    - -r ../requirements-pip.txt\n",
             "requirements-pip.txt": "jax\n", "environment.yaml": "dependencies: [numpy=1.26]\n"}
    assert found(tmp_path, files) == {("PD201", "conda/conda-gpu.yaml", 2), ("PD201", "requirements-pip.txt", 1),
                                      ("PD201", "environment.yaml", 1)}


def test_conda_lock_pins_the_environment(tmp_path: Path) -> None:
    lock = "version: 1\npackage:\n  - name: numpy\n    version: 1.26.4\n    manager: conda\n"
    files = {"environment.yml": "dependencies:\n  - numpy\n  - scipy\n", "conda-lock.yml": lock}
    assert found(tmp_path, files) == {("PD201", "environment.yml", 3)}


def test_broken_yaml_is_a_problem_and_the_rest_of_the_scan_goes_on(tmp_path: Path) -> None:
    root = _write(tmp_path, {"environment.yml": "dependencies:\n  - numpy\n - : [\n",
                             ".github/workflows/ci.yml": "jobs: {build: [\n", "requirements.txt": "numpy\n"})
    report = _scan(root)
    assert sorted((p.path, p.reason) for p in report.errors) == [(".github/workflows/ci.yml", "invalid-yaml"),
                                                                  ("environment.yml", "invalid-yaml")]
    assert [(f.location.path, f.location.line) for f in report.findings] == [("requirements.txt", 1)]


# --- pip install commands ------------------------------------------------------------------------------------

def test_dockerfile_install_lines(tmp_path: Path) -> None:
    text = ("FROM python:3.11\n"
            "RUN pip3 install --no-cache-dir --upgrade numpy 'pandas==2.2.2'\n"  # 2
            "RUN apt-get update \\\n    && python3 -m pip install \\\n        --index-url https://x/simple \\\n"
            "        scipy>=1.11 \\\n        && rm -rf /var/lib/apt/lists/*\n"  # 6
            "RUN --mount=type=cache,target=/root/.cache pip install -r requirements.txt torch\n"  # 8
            'RUN ["pip", "install", "xgboost"]\n'  # 9
            "# RUN pip install commented-out\n"
            "ENV PIP_NO_CACHE_DIR=1\n"
            "RUN pip install -e . ./libs/local $EXTRA_PACKAGES \"${MORE}\"\n"
            "RUN uv pip install --system polars\n")  # 13
    files = {"docker/Dockerfile.gpu": text, "docker/requirements.txt": "requests>=2\n"}
    assert found(tmp_path, files) == {("PD202", "docker/Dockerfile.gpu", n) for n in (2, 6, 8, 9, 13)} | {
        ("PD201", "docker/requirements.txt", 1), ("PD204", "docker/Dockerfile.gpu", 1)}


def test_pip_install_minus_r_reads_the_named_file(tmp_path: Path) -> None:
    files = {"Containerfile": "RUN pip install -r deps/serving.txt\n", "deps/serving.txt": "onnxruntime\n"}
    assert found(tmp_path, files) == {("PD201", "deps/serving.txt", 1)}


def test_shell_scripts_and_makefiles(tmp_path: Path) -> None:
    files = {"scripts/install.sh": "#!/bin/bash\nset -euo pipefail\n"
                                   "sudo -H pip install catboost==1.2.5 optuna  # tune later\n"  # 3
                                   "echo 'pip install is done' ; pip --disable-pip-version-check install rich\n",
             "Makefile": "install:\n\t@pip install tqdm\n\tpython -m pytest\n"}
    assert found(tmp_path, files) == {("PD202", "scripts/install.sh", 3), ("PD202", "scripts/install.sh", 4),
                                      ("PD202", "Makefile", 2)}


def test_workflow_run_steps(tmp_path: Path) -> None:
    text = ("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: pip install -r requirements.txt\n"
            "      - name: tools\n        run: |\n          pip install \\\n            pytest \\\n"
            "            'numpy==1.26.4'\n"  # pytest on line 10
            "          pip install ${{ matrix.extra }}\n"
            "      - run: python -m pip install 'torch>=2'\n")  # 13
    files = {".github/workflows/test.yaml": text, "requirements.txt": "numpy==1.26.4\nscipy\n"}
    assert found(tmp_path, files) == {("PD202", ".github/workflows/test.yaml", 10),
                                      ("PD202", ".github/workflows/test.yaml", 13), ("PD201", "requirements.txt", 2)}


def test_a_workflow_names_requirements_files_relative_to_the_repository_root(tmp_path: Path) -> None:
    text = ("on: push\njobs:\n  t:\n    runs-on: x\n    steps:\n"
            "      - run: pip install -r ci/deps.txt -c ci/pins.txt tensorflow\n")
    files = {".github/workflows/t.yml": text, "ci/deps.txt": "keras\n", "ci/pins.txt": "tensorflow==2.16.1\n"}
    assert found(tmp_path, files) == {("PD201", "ci/deps.txt", 1)}


def test_notebook_magics_are_located_by_cell_and_line(tmp_path: Path) -> None:
    nb = _notebook(["import os"], ["# setup", "!pip install -q numpy 'pandas==2.2.2'", "%pip install -r reqs.txt"],
                   ["%pip install scikit-learn>=1.4"])
    report = _scan(_write(tmp_path, {"explore.ipynb": nb, "reqs.txt": "shap\n"}))
    assert not report.errors
    assert {(f.rule_id, f.location.path, f.location.cell, f.location.line) for f in report.findings} == {
        ("PD202", "explore.ipynb", 2, 2), ("PD202", "explore.ipynb", 3, 1), ("PD201", "reqs.txt", None, 1)}


def test_install_lines_are_not_pinned_by_lock_files(tmp_path: Path) -> None:
    files = {"poetry.lock": '[[package]]\nname = "numpy"\nversion = "1.26.4"\n', "setup.sh": "pip install numpy\n"}
    assert found(tmp_path, files) == {("PD202", "setup.sh", 1)}


# --- GitHub Actions ------------------------------------------------------------------------------------------

def test_actions_refs(tmp_path: Path) -> None:
    text = ("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: actions/checkout@v4\n"  # 6
            f"      - uses: actions/setup-python@{SHA}  # v5\n"
            "      - uses: 'github/codeql-action/init@v3'\n"  # 8
            "      - uses: ./local-action\n"
            "      - uses: docker://ghcr.io/org/tool:latest\n"  # 10
            "      - uses: org/noref\n"  # 11
            "  call:\n    uses: org/shared/.github/workflows/ci.yml@v1\n")  # 13
    files = {".github/workflows/ci.yml": text, "actions/x/action.yml": "runs:\n  using: composite\n  steps:\n"
                                                                       "    - uses: actions/cache@v4\n"}
    result = found(tmp_path, files)
    assert result == {("PD203", ".github/workflows/ci.yml", n) for n in (6, 8, 10, 11, 13)} | {
        ("PD203", "actions/x/action.yml", 4)}
    symbols = {f.symbol for f in _scan(tmp_path / "repo").findings}
    assert {"actions/checkout", "github/codeql-action", "org/shared"} <= symbols


def test_trusted_owners_option(tmp_path: Path) -> None:
    text = ("on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n"
            "      - uses: org/tool@v1\n")
    config = _with_options("PD203", trusted_owners=["actions"])
    assert found(tmp_path, {".github/workflows/ci.yml": text}, config) == {("PD203", ".github/workflows/ci.yml", 7)}


# --- options -------------------------------------------------------------------------------------------------

def test_lower_bounds_option_and_dev_option(tmp_path: Path) -> None:
    files = {"requirements.txt": "numpy>=1.2\npandas~=2.2\n", "requirements-dev.txt": "pytest\n",
             "install.sh": "pip install ruff\n"}
    lenient = Config(rules={"PD201": RuleSettings(options={"treat_lower_bounds_as_pinned": True,
                                                           "report_dev_dependencies": False}),
                            "PD202": RuleSettings(options={"report_dev_dependencies": False})})
    assert found(tmp_path, files, lenient) == {("PD201", "requirements.txt", 2)}
    assert len(found(tmp_path, files)) == 4


def test_rules_can_be_disabled_one_by_one(tmp_path: Path) -> None:
    files = {"requirements.txt": "numpy\n", "install.sh": "pip install numpy\n"}
    assert found(tmp_path, files, Config(ignore=("PD201",))) == {("PD202", "install.sh", 1)}


# --- fingerprints and messages -------------------------------------------------------------------------------

def _fingerprints(tmp_path: Path, name: str, files: dict[str, str]) -> dict[str, str]:
    report = _scan(_write(tmp_path / name, files))
    return {f.symbol: f.fingerprint for f in report.findings}


@pytest.mark.parametrize("path", ["requirements.txt", "pyproject.toml"])
def test_fingerprint_survives_inserted_lines_and_a_new_bound_but_not_a_rename(tmp_path: Path, path: str) -> None:
    def files(spec: str, above: int = 0) -> dict[str, str]:
        if path == "requirements.txt":
            return {path: "# pinned later\n" * above + spec + "\n"}
        return {path: '[project]\nname = "m"\nversion = "1"\n' + "# note\n" * above + f'dependencies = ["{spec}"]\n'}

    base = _fingerprints(tmp_path, "base", files("numpy>=1.0"))
    moved = _fingerprints(tmp_path, "moved", files("numpy>=1.0", above=20))
    rebounded = _fingerprints(tmp_path, "rebounded", files("numpy >= 1.1"))
    renamed = _fingerprints(tmp_path, "renamed", files("scipy>=1.0"))
    assert base["numpy"] == moved["numpy"] == rebounded["numpy"]
    assert renamed["scipy"] != base["numpy"]


def test_same_package_in_two_sections_gets_two_fingerprints(tmp_path: Path) -> None:
    text = ('[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy>=1"]\n'
            '[project.optional-dependencies]\ngpu = ["numpy>=1.26"]\n')
    report = _scan(_write(tmp_path, {"pyproject.toml": text}))
    assert len({f.fingerprint for f in report.findings}) == 2


def test_message_says_what_is_loose_and_what_to_pin(tmp_path: Path) -> None:
    text = ("numpy\npandas>=1.2\nscipy~=1.11\ntorch==2.*\njax>=0.4,<0.5\n"
            "mylib @ git+https://github.com/org/mylib@main\nother @ https://example.com/other-1.0.tar.gz\n")
    report = _scan(_write(tmp_path, {"requirements.txt": text}))
    messages = {f.symbol: f.message for f in report.findings}
    assert "no version" in messages["numpy"] and "numpy==<version you test with>" in messages["numpy"]
    assert "lower bound only (>=1.2)" in messages["pandas"] and "pandas==<version you test with>" in messages["pandas"]
    assert "pandas==1.2" not in messages["pandas"]  # the bound would downgrade: never offered as the pin
    assert "compatible release (~=1.11)" in messages["scipy"]
    assert "wildcard (==2.*)" in messages["torch"]
    assert "range (>=0.4,<0.5)" in messages["jax"]
    assert "VCS reference without a commit" in messages["mylib"] and "commit" in messages["mylib"]
    assert "URL without a hash" in messages["other"]
    assert all("lock file" in messages[name] for name in ("numpy", "pandas", "scipy"))


def test_the_same_action_used_twice_is_reported_on_each_line(tmp_path: Path) -> None:
    # Found on Made-With-ML: two steps with the same `uses:` were both reported on the first one's line.
    workflow = (
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: some/action@v2\n      - run: echo hi\n      - uses: some/action@v2\n"
    )
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(workflow)
    report = scan(tmp_path, Config(), use_cache=False, jobs=1)
    assert sorted(f.location.line for f in report.findings if f.rule_id == "PD203") == [6, 8]


# --- libraries and applications --------------------------------------------------------------------------------

_LIBRARY = ('[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
            '[project]\nname = "Fast_Tokens"\nversion = "1.0"\ndependencies = [\n    "numpy>=1.24",\n'  # 9
            '    "regex",\n    "helper @ git+https://github.com/org/helper@main",\n]\n'  # 10, 11
            '[project.optional-dependencies]\ntorch = ["torch>=2"]\ndev = ["pytest>=8"]\n')  # 14, 15


def test_a_library_keeps_install_ranges_but_its_examples_and_images_stay_in_scope(tmp_path: Path) -> None:
    files = {"pyproject.toml": _LIBRARY,
             "examples/requirements.txt": "fast-tokens\nmatplotlib>=3\n",
             "examples/demo.ipynb": _notebook(["%pip install -q fast_tokens datasets"]),
             "docker/Dockerfile": "FROM python:3.12\nRUN pip install fast-tokens==1.0\n"}
    assert found(tmp_path, files) == {
        ("PD201", "pyproject.toml", 11), ("PD201", "pyproject.toml", 15), ("PD201", "examples/requirements.txt", 2),
        ("PD202", "examples/demo.ipynb", 1), ("PD204", "docker/Dockerfile", 1)}
    findings = _scan(tmp_path / "repo").findings
    assert {f.symbol for f in findings if f.location.path == "examples/demo.ipynb"} == {"datasets"}


def test_project_setting_overrides_the_library_reading(tmp_path: Path) -> None:
    files = {"pyproject.toml": _LIBRARY}
    assert found(tmp_path / "a", files, APPLICATION) == {("PD201", "pyproject.toml", n) for n in (9, 10, 11, 14, 15)}
    no_backend = {"pyproject.toml": '[project]\nname = "app"\nversion = "1"\ndependencies = ["numpy>=1"]\n'}
    assert found(tmp_path / "b", no_backend) == {("PD201", "pyproject.toml", 4)}
    assert found(tmp_path / "c", no_backend, Config(project="library")) == set()


def test_a_requirements_file_the_build_reads_is_the_library_install_list(tmp_path: Path) -> None:
    setup = ("from setuptools import setup\n\n"
             "setup(name='m', install_requires=open('requirements.txt').read().splitlines())\n")
    files = {"setup.py": setup, "requirements.txt": "numpy>=1.26\n", "requirements-dev.txt": "pytest\n"}
    assert found(tmp_path, files) == {("PD201", "requirements-dev.txt", 1)}


def test_project_setting_is_read_from_pyproject_and_validated(tmp_path: Path) -> None:
    root = _write(tmp_path / "a", {"pyproject.toml": _LIBRARY + '\n[tool.paydown]\nproject = "application"\n'})
    assert load_config(root, ALL_RULES).project == "application"
    bad = _write(tmp_path / "b", {"pyproject.toml": '[tool.paydown]\nproject = "service"\n'})
    with pytest.raises(ConfigError, match="project"):
        load_config(bad, ALL_RULES)
