"""What a declared dependency is, how loose its version is (decided by `packaging`), and what it risks."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..finding import Impact, Risk

# Packages whose upgrades change a model's numbers: numerics, data frames, learners, tokenizers, serialisers.
NUMERIC_PACKAGES = frozenset({
    "numpy", "scipy", "pandas", "polars", "scikit-learn", "torch", "torchvision", "torchaudio", "tensorflow",
    "tensorflow-cpu", "tensorflow-gpu", "keras", "jax", "jaxlib", "flax", "optax", "xgboost", "lightgbm",
    "catboost", "transformers", "tokenizers", "sentencepiece", "statsmodels", "onnx", "onnxruntime",
    "onnxruntime-gpu", "pyarrow", "numba", "datasets", "accelerate", "safetensors", "sentence-transformers",
    "spacy", "nltk", "gensim", "opencv-python", "opencv-python-headless", "pillow", "scikit-image", "mlx",
    "tiktoken", "peft", "diffusers", "timm", "pytorch-lightning", "lightning", "dask", "cupy", "h5py",
    "sympy", "prophet", "pymc", "tensorflow-probability", "mkl", "openblas", "cudatoolkit", "imbalanced-learn",
})
DEV_TOOLS = frozenset({
    "pytest", "pytest-cov", "pytest-xdist", "pytest-mock", "pytest-asyncio", "pytest-benchmark", "hypothesis",
    "ruff", "black", "isort", "flake8", "pylint", "mypy", "pyright", "pre-commit", "sphinx", "sphinx-rtd-theme",
    "furo", "mkdocs", "mkdocs-material", "coverage", "tox", "nox", "bandit", "pydocstyle", "pycodestyle",
    "pyflakes", "autopep8", "yapf", "twine", "build", "wheel", "setuptools-scm", "bump2version", "codespell",
    "ipdb", "pdbpp", "types-requests", "types-pyyaml", "nbqa", "nbstripout", "interrogate", "vulture",
    "pip-tools", "check-manifest", "pytest-timeout", "myst-parser", "sphinx-autodoc-typehints", "doc8",
})
_DEV_WORDS = frozenset({
    "dev", "devel", "develop", "development", "test", "tests", "testing", "doc", "docs", "documentation", "lint",
    "linting", "linters", "typing", "types", "mypy", "style", "format", "formatting", "check", "checks", "ci",
    "bench", "benchmark", "benchmarks", "qa", "tools", "tooling", "precommit",
})
_SHA40 = re.compile(r"^[0-9a-fA-F]{40}$")
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
_HASH_FRAGMENT = re.compile(r"(?:^|&)(?:sha256|sha384|sha512|md5|sha1)=[0-9a-fA-F]+")
_EGG = re.compile(r"(?:^|&)egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
# Operators in the order people write a range: lower bound first.
_OPERATOR_ORDER = {">=": 0, ">": 1, "~=": 2, "==": 3, "===": 3, "!=": 4, "<=": 5, "<": 6}


@dataclass(frozen=True, slots=True)
class Looseness:
    """Why a version is not fixed: ``kind`` for options and ``text`` for the message; ``example`` is a pin."""

    kind: str
    text: str
    example: str = ""


@dataclass(frozen=True, slots=True)
class Declared:
    """One dependency as written: where, in which section, and how loose (None when it pins itself)."""

    path: str
    line: int
    name: str
    section: str
    dev: bool
    loose: Looseness | None


def is_sha(ref: str) -> bool:
    return bool(_SHA40.match(ref))


def is_dev_section(label: str) -> bool:
    """A group, extra or file name that holds only tooling: `dev`, `tests`, `docs`, `lint`..."""
    return any(word in _DEV_WORDS for word in re.split(r"[^a-z]+", label.lower()))


def is_local_path(text: str) -> bool:
    """`.`, `./pkg`, `../x`, `/abs`, `~/x`, `file:...` or a local archive: the repository's own code, not debt."""
    if text.startswith(("file:", ".", "/", "~")) or text in {".", ".."}:
        return True
    if "://" in text or text.startswith(_VCS_PREFIXES):
        return False
    return "/" in text.split(";", 1)[0] or text.endswith((".whl", ".tar.gz", ".zip"))


def _sorted_specifiers(spec: SpecifierSet) -> list[Specifier]:
    return sorted(spec, key=lambda s: (_OPERATOR_ORDER.get(s.operator, 9), s.version))


def specifier_looseness(name: str, spec: SpecifierSet) -> Looseness | None:
    """None when the set fixes one version (`==X` without a wildcard, or `===`), else what is loose."""
    specs = _sorted_specifiers(spec)
    if not specs:
        return Looseness("none", "no version", f"{name}==<version you test with>")
    if any(s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*")) for s in specs):
        return None
    shown = ",".join(str(s) for s in specs)
    example = f"{name}==<version you test with>"
    if len(specs) > 1:
        return Looseness("range", f"range ({shown})", example)
    only = specs[0]
    if only.operator in (">=", ">"):
        # never the bound itself as the example pin: installs today resolve far above it, so it would downgrade
        return Looseness("lower", f"lower bound only ({shown})", example)
    kinds = {"~=": ("compatible", "compatible release"), "==": ("wildcard", "wildcard"),
             "<": ("upper", "upper bound only"), "<=": ("upper", "upper bound only"),
             "!=": ("exclusion", "exclusions only")}
    kind, words = kinds.get(only.operator, ("range", "range"))
    return Looseness(kind, f"{words} ({shown})", example)


def url_looseness(url: str, hashed: bool = False) -> Looseness | None:
    """A VCS URL is pinned by a full commit hash; an archive URL by a hash (fragment or `--hash`)."""
    if hashed or url.startswith("file:"):
        return None
    parts = urlsplit(url)
    if url.startswith(_VCS_PREFIXES):
        path = parts.path
        ref = path.rsplit("@", 1)[1] if "@" in path.rsplit("/", 1)[-1] else ""
        if is_sha(ref):
            return None
        where = f"@{ref}" if ref else "no ref"
        return Looseness("vcs", f"VCS reference without a commit ({where})", "<url>@<40-hex commit>")
    if _HASH_FRAGMENT.search(parts.fragment):
        return None
    return Looseness("url", "URL without a hash", "<url>#sha256=<hash of the archive>")


def egg_name(url: str) -> str:
    """The project name of a bare URL line: `#egg=name`, else the archive's or repository's base name."""
    match = _EGG.search(urlsplit(url).fragment)
    if match:
        return canonicalize_name(match.group(1))
    base = urlsplit(url).path.rsplit("/", 1)[-1].split("@", 1)[0]
    for suffix in (".git", ".whl", ".tar.gz", ".zip"):
        base = base.removesuffix(suffix)
    return canonicalize_name(base.split("-", 1)[0]) if base else "unknown"


def requirement_looseness(req: Requirement, hashed: bool = False) -> Looseness | None:
    name = canonicalize_name(req.name)
    if req.url:
        return url_looseness(req.url, hashed)
    if hashed:
        return None
    return specifier_looseness(name, req.specifier)


def parse_requirement(text: str) -> Requirement:
    """`packaging`'s Requirement, raising InvalidRequirement with its own message."""
    return Requirement(text)


def parse_specifier(text: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier as err:
        raise InvalidRequirement(str(err)) from None


def is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def release_length(text: str) -> int:
    try:
        return len(Version(text).release)
    except InvalidVersion:
        return 0


def impact(name: str, dev: bool, loose: Looseness) -> Impact:
    """HIGH for packages that compute the model's numbers, LOW for tooling, MEDIUM for the rest.

    No version at all takes longer to pin (find the version in use) and lets in every major release, so both
    effort and interest double.
    """
    scale = 2.0 if loose.kind == "none" else 1.0
    effort = 0.25 * scale
    if name in NUMERIC_PACKAGES and not dev:
        return Impact(effort, Risk.HIGH, f"A new {name} release can silently change the model's numbers.",
                      1.0 * scale)
    if dev or name in DEV_TOOLS:
        return Impact(effort, Risk.LOW, f"{name} is a development tool: a new release breaks CI, not models.",
                      0.1 * scale)
    return Impact(effort, Risk.MEDIUM, f"A new {name} release can change the system's runtime behaviour.",
                  0.3 * scale)


class TextIndex:
    """Offsets to 1-based lines in O(log n), and forward searches for values whose lines a parser lost.

    A search that finds nothing reads to the end of the text, so a file whose values are all written some way
    the searches miss (20,000 escaped image names in a compose file ran past 100 s) would cost its length per
    value: after MAX_FAILED_SEARCHES misses, a file's searches give up (its values keep the caller's fallback
    line) and the cost stays linear in the file's size.
    """

    MAX_FAILED_SEARCHES = 64

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self._failed = 0

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, max(offset, 0))

    def line_start(self, line: int) -> int:
        return self._starts[min(max(line, 1), len(self._starts)) - 1]

    def _missed(self) -> int:
        self._failed += 1
        return -1

    def find(self, pattern: re.Pattern[str], start: int = 0) -> int:
        """Offset of the pattern's first match at or after ``start``, else -1."""
        if self._failed >= self.MAX_FAILED_SEARCHES:
            return -1
        match = pattern.search(self.text, start)
        return match.start() if match else self._missed()

    def find_text(self, needle: str, start: int = 0) -> int:
        """Offset of ``needle`` at or after ``start``, else -1."""
        if self._failed >= self.MAX_FAILED_SEARCHES:
            return -1
        found = self.text.find(needle, start)
        return found if found >= 0 else self._missed()

    def find_quoted(self, value: str, start: int = 0) -> int:
        """Offset of a string value written in quotes (TOML, YAML, Python), else of the bare value, else -1."""
        if self._failed >= self.MAX_FAILED_SEARCHES:
            return -1
        for needle in (f'"{value}"', f"'{value}'", value):
            found = self.text.find(needle, start)
            if found >= 0:
                return found
        return self._missed()
