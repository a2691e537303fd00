"""Container images a repository builds on or runs in: Dockerfile `FROM` and `COPY --from`, Compose `image:`,
GitLab CI `image:`/`services:` and GitHub Actions job containers; pinned only by a digest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..finding import Problem
from ..snapshot import parse_yaml
from ._model import TextIndex

_DIGEST = re.compile(r"@sha256:[0-9a-fA-F]{64}$")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?")
_ARG = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$")
_CONTINUATION = re.compile(r"\\\r?\n")
# Images whose tag decides the ML framework, CUDA and driver libraries the model runs with.
_FRAMEWORK_WORDS = frozenset({
    "pytorch", "torch", "tensorflow", "huggingface", "cuda", "nvidia", "nvcr.io", "sagemaker", "deep-learning",
    "deeplearning", "mxnet", "jax", "triton", "tritonserver", "rocm", "onnxruntime", "vllm", "paddlepaddle",
    "tensorrt", "transformers", "dlc", "ray", "rayproject", "spark", "pyspark",
})
_NOT_IMAGES = frozenset({"scratch"})


@dataclass(frozen=True, slots=True)
class ImageUse:
    """One image reference as written, where, and how it is used (`FROM`, `COPY --from`, `image:`)."""

    path: str
    line: int
    image: str  # the reference as written, variables resolved
    how: str

    @property
    def repository(self) -> str:
        """The image without its tag or digest (`pytorch/pytorch` for `pytorch/pytorch:2.3-cuda12`)."""
        name = _DIGEST.sub("", self.image)
        head, _, last = name.rpartition("/")
        last = last.split(":", 1)[0]
        return f"{head}/{last}" if head else last

    @property
    def tag(self) -> str:
        name = _DIGEST.sub("", self.image)
        last = name.rpartition("/")[2]
        return last.split(":", 1)[1] if ":" in last else ""

    @property
    def pinned(self) -> bool:
        return bool(_DIGEST.search(self.image))

    @property
    def framework(self) -> bool:
        words = set(re.split(r"[/:._-]+", self.repository.lower())) | {self.repository.lower().split("/", 1)[0]}
        return bool(words & _FRAMEWORK_WORDS)


@dataclass(slots=True)
class Images:
    uses: list[ImageUse]
    problems: list[Problem]


def _substitute(text: str, args: dict[str, str]) -> str | None:
    """`${BASE}`, `$BASE` and `${BASE:-x}` replaced from the Dockerfile's ARG defaults; None when one is unknown."""
    unknown = False

    def value(match: re.Match[str]) -> str:
        nonlocal unknown
        found = args.get(match.group(1), match.group(2))
        if not found:
            unknown = True
            return ""
        return found

    result = _VARIABLE.sub(value, text)
    return None if unknown else result


def _dockerfile_lines(text: str) -> list[tuple[int, str]]:
    """(line, instruction) of each logical line, continuations joined, comment lines dropped."""
    out: list[tuple[int, str]] = []
    joined = _CONTINUATION.sub(lambda m: " " * len(m.group()), text)
    index = TextIndex(joined)
    offset = 0
    for raw in joined.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            out.append((index.line_of(offset + len(raw) - len(raw.lstrip())), stripped))
        offset += len(raw)
    return out


def _from_image(words: list[str]) -> tuple[str, str]:
    """(image, stage name) of the words after FROM, options such as `--platform=...` skipped."""
    rest = [word for word in words if not word.startswith("--")]
    image = rest[0] if rest else ""
    stage = rest[2] if len(rest) >= 3 and rest[1].lower() == "as" else ""
    return image, stage


def scan_dockerfile_images(path: str, text: str) -> list[ImageUse]:
    """`FROM` and `COPY --from=` images; earlier stages, `scratch` and unresolvable variables are not images."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    uses: list[ImageUse] = []
    for line, instruction in _dockerfile_lines(text):
        keyword, _, body = instruction.partition(" ")
        keyword, words = keyword.upper(), body.split()
        if keyword == "ARG":
            for word in words:
                match = _ARG.match(word)
                if match and match.group(2) is not None:
                    args.setdefault(match.group(1), match.group(2).strip("\"'"))
            continue
        if keyword == "FROM":
            image, stage = _from_image(words)
            _add(uses, path, line, _substitute(image, args), "FROM", stages)
            stages.update({stage.lower()} if stage else set())
        elif keyword in ("COPY", "ADD"):
            for word in words:
                if word.startswith("--from="):
                    _add(uses, path, line, _substitute(word[7:], args), "COPY --from", stages)
    return uses


def _add(uses: list[ImageUse], path: str, line: int, image: str | None, how: str, stages: set[str]) -> None:
    if not image or image.lower() in stages or image.lower() in _NOT_IMAGES or image.isdigit():
        return
    if "{{" in image or "$" in image:
        return  # a template or a variable the file does not define
    uses.append(ImageUse(path, line, image, how))


def _image_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("name", value.get("image"))
        return name if isinstance(name, str) else None
    return None


def _yaml_uses(path: str, text: str, found: list[tuple[str, str]]) -> list[ImageUse]:
    """Image strings found in a YAML file, located in order of appearance."""
    index, cursor, uses = TextIndex(text), 0, []
    for image, how in found:
        pattern = re.compile(rf"(?:image|name|container)\s*:\s*[\"']?{re.escape(image)}")
        offset = index.find(pattern, cursor)
        offset = offset if offset >= 0 else index.find(pattern)
        cursor = max(cursor, offset + 1)
        _add(uses, path, index.line_of(offset), image, how, set())
    return uses


def scan_compose_images(path: str, text: str) -> Images:
    data, problem = parse_yaml(path, text)
    if problem is not None:
        return Images([], [problem])
    services = data.get("services") if isinstance(data, dict) else None
    found = [(image, "image:") for body in (services.values() if isinstance(services, dict) else ())
             if isinstance(body, dict) and "build" not in body and (image := _image_of(body.get("image")))]
    return Images(_yaml_uses(path, text, found), [])


def scan_gitlab_images(path: str, text: str) -> Images:
    data, problem = parse_yaml(path, text)
    if problem is not None:
        return Images([], [problem])
    found: list[tuple[str, str]] = []
    jobs = [data, *(job for job in data.values() if isinstance(job, dict))] if isinstance(data, dict) else []
    for job in jobs:
        image = _image_of(job.get("image"))
        if image:
            found.append((image, "image:"))
        services = job.get("services")
        found.extend((name, "services:") for item in (services if isinstance(services, list) else ())
                     if (name := _image_of(item)))
    return Images(_yaml_uses(path, text, found), [])


def workflow_images(path: str, text: str, data: Any) -> list[ImageUse]:
    """GitHub Actions `jobs.<id>.container` and `services.<name>` images."""
    found: list[tuple[str, str]] = []
    jobs = data.get("jobs") if isinstance(data, dict) and isinstance(data.get("jobs"), dict) else {}
    for job in jobs.values():
        if not isinstance(job, dict):
            continue
        image = _image_of(job.get("container"))
        if image:
            found.append((image, "container:"))
        services = job.get("services")
        found.extend((name, "services:") for body in (services.values() if isinstance(services, dict) else ())
                     if (name := _image_of(body)))
    return _yaml_uses(path, text, found)


def image_looseness(use: ImageUse) -> str | None:
    """None when the image is fixed to a digest, else what moves."""
    if use.pinned:
        return None
    if not use.tag:
        return "no tag (Docker takes :latest)"
    if use.tag.lower() in ("latest", "stable", "nightly", "edge", "main", "master", "rolling"):
        return f"moving tag :{use.tag}"
    return f"tag :{use.tag} without a digest (a tag can be pushed again)"
