"""Statement text normalised for comparison: ``shape`` folds identifiers and literals (Type-2 clones match on it),
``exact`` keeps literals, attribute and called names (two copies that differ in it have diverged)."""

from __future__ import annotations

import keyword
import re

TOKEN = re.compile(
    r"(?P<comment>#[^\n]*)"
    r"|(?P<string>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"))"
    r"|(?P<number>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*=?|//=?|->|:=|[-+*/%@&|^<>=!]=|<<=?|>>=?|[^\s\w])"
)
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_UNARY_AFTER = frozenset({None, "(", "[", "{", ",", "=", ":", "return", "**", "*", "/", "+", "-", "==", "<", ">"})
KEYWORDS = frozenset(keyword.kwlist)
# A file path or URL literal: where a copy reads its data from, not what it computes (two copies reading
# different files are still copies).
_PATH = re.compile(r"^[rRbBuUfF]{0,2}(['\"])(?:[^'\"\s]*/[^'\"\s]*|[^'\"\s]+\.(?:csv|tsv|json|jsonl|parquet|npz|npy|"
                   r"pkl|pickle|txt|h5|hdf5|feather|jpg|jpeg|png|tif|tiff|bin|pt|pth|ckpt|zip|gz))\1$")


def canonical_string(text: str) -> str:
    """'a' and "a" are the same literal; other strings and numbers stay as written."""
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0] and not text.startswith(('"""', "'''")):
        body = text[1:-1]
        if not any(c in body for c in "'\"\\"):
            return f"'{body}'"
    return text


def normalise(code: str, aliases: frozenset[str]) -> tuple[str, str, int]:
    """(shape text, exact text, token count) of a statement's code; comments dropped."""
    shape: list[str] = []
    exact: list[str] = []
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(code) if m.lastgroup != "comment"]
    depth = 0
    previous: str | None = None
    negate = False
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "op" and text == "-" and previous in _UNARY_AFTER and index + 1 < len(tokens) \
                and tokens[index + 1][0] == "number":
            negate = True  # a negative literal is one literal: `-1.0` folds like `0.0`
            continue
        if kind in ("string", "number"):
            shape.append("S" if kind == "string" else "N")
            exact.append("PATH" if kind == "string" and _PATH.search(text) else
                         ("-" if negate else "") + canonical_string(text))
        elif kind == "name" and text not in KEYWORDS:
            keyword_arg = following == "=" and depth > 0
            shape.append(text if previous == "." or keyword_arg else "V")
            exact.append(text if previous == "." or keyword_arg or following == "(" or text in aliases else "V")
        else:
            depth += text in _OPENERS
            depth -= text in _CLOSERS
            shape.append(text)
            exact.append(text)
        previous = text
        negate = False
    return " ".join(shape), " ".join(exact), len(tokens)
