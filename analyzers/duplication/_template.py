"""Prompt templates: model-input text assembled from the same literal pieces in more than one function.

A prompt or input template built by hand (``f"{context}\\n Input: {question}"``) is feature logic: the model
was trained on text of exactly that form, so a generation path that rebuilds it must stay identical to the
training path. Its skeleton is the literal text with each placeholder replaced by the name it reads (the last
name, attribute or string key: ``row['question']`` and ``question`` both read ``question``), whitespace runs and
line endings folded.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import libcst as cst

from . import _evidence

# Calls that turn text into model input or generate from it: where a template's text flows at inference.
GENERATION = re.compile(r"apply_chat_template|\btokeni[sz]er\w*\s*\(|\.generate\(|\bpipe(?:line)?\s*\(|"
                        r"\.(?:encode|encode_plus|batch_encode_plus|chat|complete|completions?\.create)\(")
_WORD = re.compile(r"[A-Za-z]{3,}")
_FORMAT_FIELD = re.compile(r"\{(\w*)[^{}]*\}")
_FIELD = re.compile(r"\{\w*[^{}]*\}")
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_MIN_PLACEHOLDERS = 2


class Template(NamedTuple):
    qualname: str  # the function (or <module>) holding it
    line: int
    end_line: int
    skeleton: str
    generates: bool  # the holding function passes text to a tokenizer, chat template or generate call


def _placeholder(expression: cst.BaseExpression) -> str | None:
    """The name a placeholder reads: ``x``, ``row['x']`` and ``self.x`` all read ``x``; None for anything else."""
    if isinstance(expression, cst.Name):
        return expression.value
    if isinstance(expression, cst.Attribute):
        return expression.attr.value
    if isinstance(expression, cst.Subscript) and len(expression.slice) == 1:
        index = expression.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            value = index.value.evaluated_value
            return value if isinstance(value, str) else None
    return None


def _spaces(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text)


def _fold(text: str) -> str:
    return _spaces(_line_endings(text))


def _line_endings(text: str) -> str:
    return text.replace("\\r\\n", "\\n").replace("\r\n", "\n")


def crlf(text: str) -> bool:
    """True when a literal's source writes Windows line endings."""
    return "\\r\\n" in text or "\r\n" in text


def _skeleton(node: cst.CSTNode) -> str | None:
    """The folded skeleton of an f-string or a ``"...".format(...)`` literal, or None when it is no template."""
    if isinstance(node, cst.FormattedString):
        pieces, count = [], 0
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                pieces.append(part.value)
                continue
            name = _placeholder(part.expression)
            if name is None:
                return None
            pieces.append("{" + name + "}")
            count += 1
        text = "".join(pieces)
    elif isinstance(node, cst.SimpleString):
        text = node.raw_value
        count = len(_FORMAT_FIELD.findall(text))
        if any(not name for name in _FORMAT_FIELD.findall(text)):
            return None
    else:
        return None
    if count < _MIN_PLACEHOLDERS or not _WORD.search(_FORMAT_FIELD.sub(" ", text)):
        return None
    return _fold(text)


# A prompt written out in full, or a stored template (``{field}`` placeholders filled later by format_map), is
# compared by its words: at least this many in its literal text.
_PROSE_WORDS = 8
FILLED = "filled:"  # prefix of a prompt written out in full (no placeholders)
PATTERN = "pattern:"  # prefix of a stored template with placeholders


def _literal(node: cst.CSTNode) -> str | None:
    """The source text of a plain string literal (implicit concatenation joined), or None for anything else."""
    if isinstance(node, cst.SimpleString):
        return node.raw_value
    if isinstance(node, cst.ConcatenatedString):
        left, right = _literal(node.left), _literal(node.right)
        return None if left is None or right is None else left + right
    return None


def _prose(node: cst.CSTNode) -> str | None:
    """A long literal: ``pattern:`` + a template with placeholders, or ``filled:`` + a prompt written out."""
    text = _literal(node)
    if text is None or len(_WORD.findall(_FORMAT_FIELD.sub(" ", text))) < _PROSE_WORDS:
        return None
    fields = _FORMAT_FIELD.findall(text)
    if fields and all(fields):
        return PATTERN + _spaces(text)
    return None if fields else FILLED + _spaces(text)


def pieces(pattern: str) -> list[str]:
    """A stored template's literal pieces, in order, without the text around them."""
    return [piece.strip() for piece in _FIELD.split(_line_endings(pattern.removeprefix(PATTERN))) if piece.strip()]


def fills(filled: str, pattern: str) -> bool:
    """True when a prompt written out in full is the template with its fields filled in."""
    text, at = _line_endings(filled.removeprefix(FILLED)), 0
    for piece in pieces(pattern):
        at = text.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


def _strings(node: cst.CSTNode, out: list[tuple[cst.CSTNode, bool]]) -> list[tuple[cst.CSTNode, bool]]:
    """The outermost string literals under a node (a concatenation is one literal), f-strings included, each
    with whether it is a template: an f-string, or the receiver of ``.format(...)``."""
    if isinstance(node, cst.FormattedString):
        out.append((node, True))
    elif isinstance(node, cst.SimpleString) or (isinstance(node, cst.ConcatenatedString) and _literal(node)):
        out.append((node, False))
    elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "format" \
            and isinstance(node.func.value, cst.SimpleString):
        out.append((node.func.value, True))
        for arg in node.args:
            _strings(arg, out)
    else:
        for child in node.children:
            _strings(child, out)
    return out


def templates(small: cst.BaseSmallStatement, code: str) -> list[str]:
    """The skeletons of the templates a statement builds, and its long prompt literals (``filled:``/``pattern:``);
    none in a statement that prints, logs or sets up."""
    formats = "f'" in code or 'f"' in code or ".format(" in code
    if not (formats or len(_WORD.findall("".join(_QUOTED.findall(code)))) >= _PROSE_WORDS) \
            or _evidence.is_plumbing(code):
        return []
    found = []
    for node, template in _strings(small, []):
        text = _skeleton(node) if template else _prose(node)
        if text is not None:
            found.append(text)
        if template and isinstance(node, cst.SimpleString):
            prose = _prose(node)  # a stored-looking template formatted in place is still prose to compare
            if prose is not None:
                found.append(prose)
    return found
