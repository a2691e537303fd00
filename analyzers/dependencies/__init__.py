"""Finds dependencies whose version is not fixed, the "unstable data/code dependencies" debt of Sculley et al.

Requirements files, pyproject.toml, setup.py (read statically), setup.cfg, Pipfile, conda environments,
`pip install` lines (Dockerfiles, scripts, workflows, notebooks) and GitHub Actions are read; lock files,
constraints files and pip-compile outputs in scope count as pins.
"""

from __future__ import annotations

import json

from ..base import Analyzer
from ..config import Config
from ..finding import AnalysisResult, Case, Finding, Impact, Kind, Location, Risk, Rule, new_finding
from ..snapshot import RepoSnapshot
from ._collect import Collected
from ._collect import collect as _collect
from ._commands import ActionUse
from ._commands import action_looseness as _action_looseness
from ._images import image_looseness as _image_looseness
from ._model import DEV_TOOLS, Declared
from ._model import impact as _impact
from ._python import extract_setup_requirements as _extract_setup_requirements

_SHA = "b4ffde65f46336ab88eb53be808477a3936bae11"
_HASH = "0" * 64
_DIGEST = "sha256:" + "c" * 64
_PYTHON_IMAGE = f"python:3.11@{_DIGEST}"


def _notebook(*lines: str) -> str:
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": [line + "\n" for line in lines]}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


UNPINNED_DEPENDENCY = Rule(
    id="PD201",
    name="unpinned-dependency",
    kind=Kind.UNPINNED_DEPENDENCY,
    summary="A declared dependency (requirements file, pyproject.toml, setup.py, setup.cfg, Pipfile, conda "
            "environment) whose version is not fixed by an exact pin, a hash, a commit or a lock file.",
    why="Sculley et al. (\"Hidden Technical Debt in Machine Learning Systems\") call unstable dependencies "
        "costlier than code dependencies: the ML system's behaviour changes when an upstream package changes. "
        "With a loose specifier, two installs on different days get different numpy, pandas or torch releases, "
        "and the model's numbers drift without any change to the repository.",
    example="requirements.txt:\n    numpy>=1.24\n    scikit-learn~=1.4\n    mylib @ git+https://github.com/org/mylib@main",
    fix="Pin an exact version (`numpy==1.26.4`), a full commit hash for VCS references, or keep the loose ranges "
        "and commit a lock file (poetry.lock, uv.lock, Pipfile.lock, pdm.lock, a pip-compile output or a "
        "constraints file) next to the manifest.",
    options={"treat_lower_bounds_as_pinned": False, "report_dev_dependencies": True},
    cases=(
        Case("invalid-no-version", {"requirements.txt": "numpy\n"}, (("PD201", "requirements.txt", 1),)),
        Case("invalid-lower-bound", {"requirements.txt": "# model stack\npandas>=2.0\n"},
             (("PD201", "requirements.txt", 2),)),
        Case("invalid-markers-extras",
             {"requirements.txt": 'transformers[torch]>=4.40 ; python_version >= "3.10"\n'},
             (("PD201", "requirements.txt", 1),)),
        Case("invalid-include-chain",
             {"requirements.txt": "-r requirements/base.txt\n", "requirements/base.txt": "-r ml.txt\n",
              "requirements/ml.txt": "requests==2.32.3\ntorch>=2.2\n"},
             (("PD201", "requirements/ml.txt", 2),)),
        Case("invalid-vcs-branch",
             {"requirements.txt": "mylib @ git+https://github.com/org/mylib.git@main\n"},
             (("PD201", "requirements.txt", 1),)),
        Case("invalid-pyproject-compatible-release",
             {"pyproject.toml": '[project]\nname = "m"\nversion = "1"\ndependencies = [\n'
                                '    "scikit-learn~=1.4",\n]\n'},
             (("PD201", "pyproject.toml", 5),)),
        Case("invalid-poetry-caret",
             {"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\nxgboost = "^2.0"\n'},
             (("PD201", "pyproject.toml", 3),)),
        Case("invalid-setup-py-branch-reference",
             {"setup.py": 'from setuptools import setup\n\nREQUIRES = [\n    "scipy>=1.11",\n'
                          '    "tok @ git+https://github.com/org/tok@main",\n]\n'
                          'setup(name="m", install_requires=REQUIRES)\n'},
             (("PD201", "setup.py", 5),)),
        Case("valid-library-install-ranges-and-own-name-in-examples",
             {"pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n\n[project]\nname = "geo-kit"\n'
                                'version = "1"\ndependencies = ["shapely>=2", "pyproj"]\n',
              "examples/requirements.txt": "geo_kit\n",
              "examples/tour.ipynb": _notebook("!pip install geo-kit")}),
        Case("invalid-conda-prefix",
             {"environment.yml": "name: m\ndependencies:\n  - python=3.11\n  - numpy=1.26\n"},
             (("PD201", "environment.yml", 4),)),
        Case("valid-exact-pin", {"requirements.txt": "numpy==1.26.4\nmylib @ git+https://github.com/org/mylib@"
                                                     f"{_SHA}\n"}),
        Case("valid-hash-pinned",
             {"requirements.txt": f"urllib3>=2 \\\n    --hash=sha256:{_HASH}\n"}),
        Case("valid-commented-out", {"requirements.txt": "# numpy\n   # pandas>=2\n"}),
        Case("valid-local-editable", {"requirements.txt": "-e .\n./libs/core\n--index-url https://pypi.org/simple\n"}),
        Case("valid-lockfile-pins",
             {"pyproject.toml": '[project]\nname = "m"\nversion = "1"\ndependencies = ["numpy>=1.26"]\n',
              "uv.lock": 'version = 1\n\n[[package]]\nname = "numpy"\nversion = "1.26.4"\n'}),
        Case("valid-constraints-file",
             {"requirements.txt": "-c constraints.txt\nnumpy>=1.2\n", "constraints.txt": "numpy==1.26.4\n"}),
        Case("valid-pip-compile-output",
             {"requirements.in": "pandas\n",
              "requirements.txt": "# This file is autogenerated by pip-compile with Python 3.11\npandas==2.2.2\n"}),
        Case("valid-conda-full-version",
             {"environment.yml": "dependencies:\n  - numpy=1.26.4\n  - scipy=1.11.4=py311h64a7726_0\n"}),
    ),
)

UNPINNED_INSTALL = Rule(
    id="PD202",
    name="unpinned-install",
    kind=Kind.UNPINNED_DEPENDENCY,
    summary="A `pip install` in a Dockerfile, shell script, CI workflow or notebook names a package without an "
            "exact version, so every build installs whatever is newest.",
    why="Sculley et al. warn that the ML system's behaviour changes when an upstream package changes; an "
        "install line bypasses the project's manifest and lock file, so an image built today and one built "
        "next month train and serve with different libraries (unstable dependencies).",
    example="Dockerfile:\n    RUN pip install --no-cache-dir torch transformers>=4.40",
    fix="Install from the project's pinned requirements (`pip install -r requirements.txt`), pass a "
        "constraints file (`-c constraints.txt`), or write exact versions (`torch==2.3.1`).",
    options={"report_dev_dependencies": True},
    cases=(
        Case("invalid-dockerfile-run",
             {"Dockerfile": f"FROM {_PYTHON_IMAGE}\nRUN pip install --no-cache-dir numpy pandas==2.2.2\n"},
             (("PD202", "Dockerfile", 2),)),
        Case("invalid-multiline-run",
             {"Dockerfile": f"FROM {_PYTHON_IMAGE}\nRUN apt-get update && \\\n    python -m pip install --upgrade \\\n"
                            "      'torch>=2.2' && rm -rf /root/.cache\n"},
             (("PD202", "Dockerfile", 4),)),
        Case("invalid-shell-script", {"scripts/setup.sh": "#!/bin/sh\nset -e\npip3 install -q lightgbm\n"},
             (("PD202", "scripts/setup.sh", 3),)),
        Case("invalid-workflow-run",
             {".github/workflows/ci.yml": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                                          "      - run: |\n          python -m pip install requests\n"},
             (("PD202", ".github/workflows/ci.yml", 7),)),
        Case("invalid-notebook-magic", {"train.ipynb": _notebook("%pip install transformers", "import os")},
             (("PD202", "train.ipynb", 1),)),
        Case("valid-requirements-reference",
             {"Dockerfile": f"FROM {_PYTHON_IMAGE}\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n",
              "requirements.txt": "numpy==1.26.4\n"}),
        Case("valid-pinned-install",
             {"Dockerfile": f"FROM {_PYTHON_IMAGE}\nRUN pip install --upgrade pip && pip install 'numpy==1.26.4' .\n"}),
        Case("valid-constraint-flag",
             {"install.sh": "pip install -c constraints.txt scipy\n", "constraints.txt": "scipy==1.11.4\n"}),
        Case("valid-bundled-short-options-take-their-file",
             {"setup.ipynb": _notebook("%pip install -qr requirements.txt", "!pip install -Ur extra-requirements.txt"),
              "install.sh": "pip install -qc constraints.txt scikit-learn\n",
              "requirements.txt": "numpy==1.26.4\n", "extra-requirements.txt": "pandas==2.2.2\n",
              "constraints.txt": "scikit-learn==1.5.0\n"}),
        Case("invalid-bundled-flags-before-a-package",
             {"install.sh": "pip install -qU lightgbm -r requirements.txt\n", "requirements.txt": "numpy==1.26.4\n"},
             (("PD202", "install.sh", 1),)),
        Case("valid-template-placeholder-in-a-wheel-name",
             {"{{ cookiecutter.repo }}/Dockerfile":
                 f"FROM {_PYTHON_IMAGE}\nRUN pip install --user {{{{ cookiecutter.pkg }}}}-0.1-py3-none-any.whl\n"}),
        Case("valid-comment-and-variable", {"install.sh": "# pip install numpy\npip install \"$PACKAGE\"\n"}),
    ),
)

UNPINNED_ACTION = Rule(
    id="PD203",
    name="unpinned-action",
    kind=Kind.UNPINNED_DEPENDENCY,
    summary="A GitHub Actions `uses:` reference that is a tag or branch rather than a full 40-character commit "
            "SHA (or a docker image without a digest), as OpenSSF Scorecard's Pinned-Dependencies check flags.",
    why="The workflow that trains, evaluates or publishes the model runs third-party code with the "
        "repository's secrets; a tag can be moved to different code at any time, so the pipeline's behaviour "
        "changes when an upstream action changes (Sculley et al.'s unstable dependencies, in CI).",
    example="steps:\n  - uses: actions/checkout@v4",
    fix="Pin the action to the commit the tag points to and keep the tag as a comment: "
        "`uses: actions/checkout@<40-hex commit> # v4`; Dependabot or Renovate can keep it current.",
    options={"trusted_owners": []},
    cases=(
        Case("invalid-tag-ref",
             {".github/workflows/ci.yml": "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                                          "      - uses: actions/checkout@v4\n"},
             (("PD203", ".github/workflows/ci.yml", 6),)),
        Case("invalid-branch-and-docker-tag",
             {".github/workflows/ci.yml": "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                                          "      - name: Setup\n        uses: org/setup-ml@main\n"
                                          "      - uses: docker://alpine:3.19\n"},
             (("PD203", ".github/workflows/ci.yml", 7), ("PD203", ".github/workflows/ci.yml", 8))),
        Case("valid-commit-sha",
             {".github/workflows/ci.yml": "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                                          f"      - uses: actions/checkout@{_SHA} # v4\n"}),
        Case("valid-local-and-digest",
             {".github/workflows/ci.yml": "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                                          "      - uses: ./.github/actions/setup\n"
                                          f"      - uses: docker://alpine@sha256:{'a' * 64}\n"}),
    ),
)

UNPINNED_IMAGE = Rule(
    id="PD204",
    name="unpinned-container-image",
    kind=Kind.UNPINNED_DEPENDENCY,
    summary="A container image (Dockerfile `FROM` or `COPY --from`, Compose or CI `image:`, a workflow job "
            "container) named by a tag or by nothing, instead of a digest, as OpenSSF Scorecard's "
            "Pinned-Dependencies check flags.",
    why="Sculley et al.'s unstable dependencies, one layer down: a base image brings the Python, CUDA, cuDNN and "
        "often the ML framework the model runs with, and a tag (`latest`, `2.3-cuda12`) can be pushed again at "
        "any time, so a rebuild trains or serves on different libraries with no change to the repository.",
    example="Dockerfile:\n    FROM pytorch/pytorch\n    FROM python:3.11-slim AS runtime",
    fix="Pin the image to the digest of the build you test with and keep the tag for readers: "
        "`FROM python:3.11-slim@sha256:<digest>` (`docker buildx imagetools inspect python:3.11-slim` prints it); "
        "Dependabot or Renovate keep digests current.",
    cases=(
        Case("invalid-no-tag-framework-image",
             {"Dockerfile": "FROM pytorch/pytorch\nRUN pip install -r requirements.txt\n",
              "requirements.txt": "numpy==1.26.4\n"},
             (("PD204", "Dockerfile", 1),)),
        Case("invalid-latest-and-version-tags-and-copy-from",
             {"docker/Dockerfile": "# build\nFROM --platform=linux/amd64 python:3.11-slim AS build\n"
                                   "COPY --from=ghcr.io/astral-sh/uv:latest /uv /bin/uv\n"
                                   "FROM build AS test\nFROM gcr.io/distroless/python3\n"
                                   "COPY --from=build /app /app\n"},
             (("PD204", "docker/Dockerfile", 2), ("PD204", "docker/Dockerfile", 3),
              ("PD204", "docker/Dockerfile", 5))),
        Case("invalid-arg-default-compose-and-gitlab-image",
             {"Dockerfile": "ARG BASE=nvidia/cuda:12.1.0-runtime-ubuntu22.04\nFROM ${BASE}\n",
              "docker-compose.yml": "services:\n  db:\n    image: postgres:16\n  api:\n    build: .\n"
                                    "    image: acme/api:dev\n",
              ".gitlab-ci.yml": "image: python:3.12\ntest:\n  script:\n    - pytest\n"},
             (("PD204", "Dockerfile", 2), ("PD204", "docker-compose.yml", 3), ("PD204", ".gitlab-ci.yml", 1))),
        Case("invalid-dockerfiles-named-by-role",
             {"docker/worker.Dockerfile": "FROM python:3.12\n", "Dockerfile.gpu": "FROM nvidia/cuda:12.4.1-base\n",
              "serve.containerfile": "FROM python:3.12-slim\n"},
             (("PD204", "docker/worker.Dockerfile", 1), ("PD204", "Dockerfile.gpu", 1),
              ("PD204", "serve.containerfile", 1))),
        Case("valid-digest-stages-scratch-and-unknown-variable",
             {"Dockerfile": f"FROM pytorch/pytorch:2.3.1-cuda12.1-cudnn8-runtime@{_DIGEST} AS base\n"
                            "FROM base AS train\nFROM scratch\nCOPY --from=0 /a /a\nCOPY --from=train /m /m\n"
                            "ARG RUNTIME\nFROM ${RUNTIME}\n"}),
    ),
)

RULES: tuple[Rule, ...] = (UNPINNED_DEPENDENCY, UNPINNED_INSTALL, UNPINNED_ACTION, UNPINNED_IMAGE)


def _advice(declared: Declared, ecosystem: str, install: bool) -> str:
    loose = declared.loose
    if loose is None:
        return ""
    if loose.kind == "vcs":
        return "pin the reference to a full 40-character commit hash"
    if loose.kind == "url":
        return "add the archive's hash (`#sha256=...` or `--hash=sha256:...`)"
    if ecosystem == "conda":
        return f"pin the full version, e.g. {loose.example}, or add a conda-lock file"
    shown = loose.example
    elsewhere = "install from pinned requirements or pass -c constraints" if install else "add it to a lock file"
    return f"pin an exact version, e.g. {shown}, or {elsewhere}"


def _dependency_finding(rule: Rule, declared: Declared, ecosystem: str, install: bool) -> Finding | None:
    loose = declared.loose
    if loose is None:
        return None
    advice = _advice(declared, ecosystem, install)
    return new_finding(
        rule,
        Location(declared.path, declared.line),
        symbol=declared.name,
        message=f"{declared.name} is not pinned: {loose.text}; {advice}",
        impact=_impact(declared.name, declared.dev, loose),
        anchor=declared.name,
        scope=declared.section,
        fix=advice[0].upper() + advice[1:] + ".",
    )


def _skipped(rule: Rule, config: Config, declared: Declared) -> bool:
    if declared.loose is None:
        return True
    if not config.option(rule, "report_dev_dependencies") and (declared.dev or declared.name in DEV_TOOLS):
        return True
    return ("treat_lower_bounds_as_pinned" in rule.options and declared.loose.kind == "lower"
            and bool(config.option(rule, "treat_lower_bounds_as_pinned")))


_INSTALL_SECTIONS = ("project.dependencies", "tool.poetry.dependencies", "install_requires")


def _library_range(collected: Collected, config: Config, declared: Declared) -> bool:
    """A published library's own install requirement declared with a range: the norm for a package installed
    into other people's environments, so not debt. Only VCS and URL references stay reported there;
    `[tool.paydown] project = "application"` reports every range, `"library"` counts every manifest naming a
    distribution as the library's."""
    if config.project == "application" or declared.loose is None or declared.loose.kind in ("vcs", "url"):
        return False
    if declared.path in collected.install_files:
        return True
    if declared.path not in collected.packaging:
        return False
    if not collected.packaging[declared.path] and config.project != "library":
        return False
    section = declared.section
    return section in _INSTALL_SECTIONS or (section.startswith("extras:") and not declared.dev)


def _manifest_findings(collected: Collected, config: Config) -> list[Finding]:
    rule = UNPINNED_DEPENDENCY
    findings = []
    for declared, ecosystem in collected.manifests:
        if _skipped(rule, config, declared) or collected.locks.pinned_by(declared.path, declared.name, ecosystem):
            continue
        if declared.name in collected.distributions or _library_range(collected, config, declared):
            continue
        if declared.name in collected.constrained.get(declared.path, ()):
            continue
        finding = _dependency_finding(rule, declared, ecosystem, install=False)
        findings.extend([finding] if finding else [])
    return findings


def _install_findings(collected: Collected, config: Config) -> list[Finding]:
    rule = UNPINNED_INSTALL
    findings = []
    for declared, constraints in collected.installs:
        if _skipped(rule, config, declared) or declared.name in collected.distributions:
            continue  # the repository's own distribution, installed in its own examples, is not a dependency
        if any(declared.name in collected.constraint_pins.get(path, ()) for path in constraints):
            continue
        finding = _dependency_finding(rule, declared, "pypi", install=True)
        findings.extend([finding] if finding else [])
    return findings


def _action_finding(use: ActionUse, loose: str) -> Finding:
    owner_repo = "/".join(use.action.split("/")[:2]) if not use.action.startswith("docker://") else use.action
    pin = "an image digest (@sha256:...)" if use.action.startswith("docker://") else "a full 40-character commit SHA"
    return new_finding(
        UNPINNED_ACTION,
        Location(use.path, use.line),
        symbol=owner_repo,
        message=f"{use.action} is not pinned: {loose}; pin it to {pin} and keep the tag in a comment",
        impact=Impact(0.25, Risk.MEDIUM, "A moved tag runs different third-party code with the workflow's "
                                         "secrets.", 0.3),
        anchor=use.action,
        scope=use.section,
    )


def _action_findings(collected: Collected, config: Config) -> list[Finding]:
    trusted = set(config.option(UNPINNED_ACTION, "trusted_owners"))
    findings = []
    for use in collected.actions:
        loose = _action_looseness(use)
        if loose is not None and use.action.split("/", 1)[0] not in trusted:
            findings.append(_action_finding(use, loose))
    return findings


def _image_findings(collected: Collected, config: Config) -> list[Finding]:
    findings = []
    for use in collected.images:
        loose = _image_looseness(use)
        if loose is None:
            continue
        tag = f":{use.tag}" if use.tag else ":<tag>"
        advice = f"pin it to a digest, e.g. {use.repository}{tag}@sha256:<digest of the image you test with>"
        risk = (Impact(0.25, Risk.HIGH, f"{use.repository} supplies the ML framework and CUDA libraries: a re-pushed "
                                        "tag changes what the model trains and serves with.", 1.0)
                if use.framework else
                Impact(0.25, Risk.MEDIUM, "A re-pushed tag changes the system's runtime under the same build.", 0.3))
        findings.append(new_finding(
            UNPINNED_IMAGE,
            Location(use.path, use.line),
            symbol=use.repository,
            message=f"{use.how} {use.image} is not pinned: {loose}; {advice}",
            impact=risk,
            anchor=use.image,
            scope=use.how,
            fix=advice[0].upper() + advice[1:] + ".",
        ))
    return findings


def find_dependency_debt(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
    """Findings for every loose dependency not pinned by a lock or constraints file, and unpinned actions."""
    collected = _collect(snapshot, snapshot.facts_of("dependencies"))
    result = AnalysisResult(problems=list(collected.problems), stats=dict(collected.stats))
    for rule, judge in ((UNPINNED_DEPENDENCY, _manifest_findings), (UNPINNED_INSTALL, _install_findings),
                        (UNPINNED_ACTION, _action_findings), (UNPINNED_IMAGE, _image_findings)):
        if config.enabled(rule):
            result.findings.extend(judge(collected, config))
    return result


ANALYZER = Analyzer(name="dependencies", version="3", rules=RULES, find=find_dependency_debt,
                    extract=_extract_setup_requirements)
