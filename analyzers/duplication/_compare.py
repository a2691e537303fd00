"""Clone detection without all pairs: winnowed statement k-grams into an inverted index, verified and grouped.

Only blocks that share a fingerprint become a candidate pair, and a fingerprint held by very many blocks is
boilerplate (a stop-list), so the work grows with the number of real copies, not with the square of blocks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

# Statements per k-gram; winnowing with window w finds every shared run of at least k + w - 1 statements.
KGRAM = 3
# A fingerprint held by more blocks than this is a common idiom, not a copy.
MAX_POSTINGS = 40
# Matching runs at most this many statements apart count as one copied region (Type-3 edits).
MAX_GAP = 3


@dataclass(frozen=True, slots=True)
class Region:
    """Statements ``start``..``stop`` (exclusive) of one block."""

    block: int
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Match:
    first: Region
    second: Region
    matched: int
    ratio: float


def winnow(shapes: Sequence[int], window: int) -> set[int]:
    """The winnowed k-gram fingerprints of a statement sequence (Schleimer et al. 2003)."""
    if len(shapes) < KGRAM:
        return set()
    grams = [hash(tuple(shapes[i:i + KGRAM])) for i in range(len(shapes) - KGRAM + 1)]
    if len(grams) <= window:
        return {min(grams)}
    picked = set()
    for start in range(len(grams) - window + 1):
        picked.add(min(grams[start:start + window]))
    return picked


def candidate_pairs(sequences: Sequence[Sequence[int]], window: int) -> tuple[set[tuple[int, int]], int]:
    """Pairs of blocks sharing at least one fingerprint held by few blocks, and the number of fingerprints."""
    index: dict[int, list[int]] = defaultdict(list)
    for block, shapes in enumerate(sequences):
        for fingerprint in winnow(shapes, window):
            index[fingerprint].append(block)
    pairs: set[tuple[int, int]] = set()
    for postings in index.values():
        if len(postings) < 2 or len(postings) > MAX_POSTINGS:
            continue
        for i, first in enumerate(postings):
            pairs.update((first, second) for second in postings[i + 1:])
    return pairs, len(index)


def align(first: Sequence[int], second: Sequence[int]) -> tuple[int, int, int, int, int] | None:
    """The best copied region of two statement sequences: (start1, stop1, start2, stop2, matched)."""
    runs = [m for m in SequenceMatcher(None, first, second, autojunk=False).get_matching_blocks() if m.size]
    best: tuple[int, int, int, int, int] | None = None
    cluster: list = []
    for run in [*runs, None]:
        if run is not None and cluster and run.a - (cluster[-1].a + cluster[-1].size) <= MAX_GAP \
                and run.b - (cluster[-1].b + cluster[-1].size) <= MAX_GAP:
            cluster.append(run)
            continue
        if cluster:
            matched = sum(r.size for r in cluster)
            candidate = (cluster[0].a, cluster[-1].a + cluster[-1].size, cluster[0].b,
                         cluster[-1].b + cluster[-1].size, matched)
            if best is None or matched > best[4]:
                best = candidate
        cluster = [run] if run is not None else []
    return best


def match(first: int, second: int, sequences: Sequence[Sequence[int]]) -> Match | None:
    found = align(sequences[first], sequences[second])
    if found is None:
        return None
    start1, stop1, start2, stop2, matched = found
    ratio = 2 * matched / ((stop1 - start1) + (stop2 - start2))
    return Match(Region(first, start1, stop1), Region(second, start2, stop2), matched, ratio)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        self.parent[self.find(first)] = self.find(second)


def components(matches: Sequence[Match]) -> list[list[int]]:
    """Blocks joined by any accepted match (union-find), each component sorted by block index."""
    union = _UnionFind()
    for found in matches:
        union.union(found.first.block, found.second.block)
    groups: dict[int, list[int]] = defaultdict(list)
    for block in sorted(union.parent):
        groups[union.find(block)].append(block)
    return list(groups.values())


def oriented(found: Match, first: int) -> Match:
    """The match with ``first``'s region first."""
    return found if found.first.block == first else Match(found.second, found.first, found.matched, found.ratio)
