"""Finds feature logic written more than once (Type-2 and Type-3 clones) and ranks training/serving copies as skew.

This is the "glue code" and training/serving skew debt of Sculley et al.: the same preprocessing copied into
training and serving drifts apart, and the model silently sees different features in production.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from difflib import SequenceMatcher

from ..base import Analyzer
from ..config import Config
from ..finding import AnalysisResult, Case, Finding, Kind, Risk, Rule
from ..snapshot import RepoSnapshot
from . import _cases as c
from . import _compare, _deliberate, _report, _roles, _template
from ._extract import Block, FileFacts, Statement
from ._extract import extract as _extract_facts
from ._template import Template

# min_statements/min_tokens/similarity: the size and shape of a partial copy; equal_share: the share of its
# aligned statements that must be equal once local names are normalised (two algorithms sharing a skeleton are
# not copies); report_deliberate: true reports copies kept on purpose (see _DELIBERATE) as one low group each.
# They are left alone by default: each such copy is meant to be read and run alone, so whether it must follow
# the others is the authors' call, and precision comes first.
_OPTIONS = {"min_statements": 5, "min_tokens": 50, "similarity": 0.8, "equal_share": 0.65,
            "report_deliberate": False}
# What both rules say about copies kept on purpose (the option above); part of each rule's fix text.
_DELIBERATE = (" Copies kept on purpose (per-lesson or numbered folders, example folders, project templates, "
               "stand-alone scripts and notebooks, steps inside separate scripts' own main code, a `# Copied from` "
               "marker) are not reported unless the rule's option `report_deliberate = true` is set; then each such "
               "group is one low-priority finding that says why.")

PREPROCESSING = Rule(
    id="PD301",
    name="duplicated-preprocessing",
    kind=Kind.DUPLICATED_FEATURE_LOGIC,
    summary="The same feature logic is written in files of different roles, such as training and serving.",
    why="Sculley et al., 'Hidden Technical Debt in Machine Learning Systems', training/serving skew and glue "
        "code: copies of preprocessing in the training and the serving path drift apart, and the model sees "
        "different features in production than it was trained on, with no error raised.",
    example="train.py: df['age'].fillna(0.0)  ...  serve.py: the same steps with frame['age'].fillna(-1.0)",
    fix="Extract the shared steps into one function in a library module (for example features.py) and call it "
        "from the training and the serving code; test it once." + _DELIBERATE,
    options=dict(_OPTIONS),
    cases=(
        Case("invalid-fillna-divergence", {"train.py": c.TRAIN, "serve.py": c.SERVE_DIVERGED},
             (("PD301", "train.py", 5),)),
        Case("invalid-renamed-copy-in-serving", {"train.py": c.TRAIN, "serve.py": c.SERVE},
             (("PD301", "train.py", 5),)),
        Case("invalid-four-statements-in-route-lambda-and-batch-job",
             {"training/fit.py": c.FARE_TRAIN, "web/app.py": c.FARE_FLASK, "aws/lambda_function.py": c.FARE_LAMBDA,
              "jobs/nightly.py": c.FARE_BATCH}, (("PD301", "training/fit.py", 7),)),
        Case("invalid-tokenizer-lambdas-in-sampling-script", {"data/prepare.py": c.CHAR_PREPARE,
                                                              "sample.py": c.CHAR_SAMPLE},
             (("PD301", "sample.py", 8),)),
        Case("invalid-notebook-and-its-exported-script", {"houses.ipynb": c.HOUSES_NOTEBOOK,
                                                          "houses.py": c.HOUSES_SCRIPT},
             (("PD301", "houses.ipynb", 1),)),
        Case("invalid-prompt-template-rebuilt-at-inference", {"train.py": c.RECIPE_TRAIN, "serve.py": c.RECIPE_SERVE},
             (("PD301", "serve.py", 10),)),
        Case("invalid-prompt-written-out-in-full-at-inference", {"train.py": c.QA_TRAIN, "smoke.py": c.QA_SMOKE},
             (("PD301", "smoke.py", 5),)),
        Case("valid-filled-prompt-only-written-to-a-file",
             {"train.py": c.QA_TRAIN, "docs.py": c.QA_DOCS}),
        Case("valid-prompt-template-only-in-reports", {"report.py": c.RECIPE_REPORT}),
        Case("valid-prompt-template-in-two-lesson-folders",
             {f"lesson_{n}/{name}.py": text for n in (1, 2) for name, text in (("train", c.RECIPE_TRAIN),
                                                                               ("notes", c.RECIPE_REPORT))}),
        Case("valid-shared-function", {"features.py": c.TRAIN,
                                       "serve.py": "from features import build_features\n\n\n"
                                                   "def predict(model, df):\n"
                                                   "    return model.predict(build_features(df))\n"}),
        Case("valid-argparse-set-ups", {"train.py": c.ARGPARSE, "serve.py": c.ARGPARSE}),
        Case("valid-kfold-loop-in-notebook-and-train-script", {"explore.ipynb": c.notebook(c.KFOLD),
                                                                "train.py": c.KFOLD}),
    ),
)

FEATURE_LOGIC = Rule(
    id="PD302",
    name="duplicated-feature-logic",
    kind=Kind.DUPLICATED_FEATURE_LOGIC,
    summary="The same feature logic is written more than once within one part of the system.",
    why="Sculley et al., 'Hidden Technical Debt in Machine Learning Systems', glue code and pipeline jungles: "
        "every copy of a feature computation must be changed together, and copies that drift apart make "
        "features mean different things in different pipelines.",
    example="jobs/daily.py and jobs/weekly.py both compute df['ratio'] = df['income'] / df['debt'] and the "
            "same fillna/get_dummies steps.",
    fix="Extract the copies into one shared function and call it from each place." + _DELIBERATE,
    options=dict(_OPTIONS),
    cases=(
        Case("invalid-copy-in-two-libraries", {"pkg/a.py": c.TRAIN, "pkg/b.py": c.SERVE.replace("features_for_"
                                                                                                "request", "f")},
             (("PD302", "pkg/a.py", 5),)),
        Case("valid-copied-from-marker", {"pkg/a.py": c.TRAIN, "pkg/b.py": c.TRAIN.replace(
            "def build", "# Copied from pkg.a.build_features\ndef build")}),
        Case("valid-tokenisation-in-every-week-folder", {f"week_{n}/data.py": c.WEEK_DATA for n in range(1, 8)}),
        Case("valid-same-steps-in-two-project-templates",
             {f"{kind}/{{{{ cookiecutter.name }}}}/src/prep.py": c.TRAIN for kind in ("pandas", "spark")}),
        Case("valid-same-steps-in-numbered-variant-folders",
             {f"mixes/mix{n}/mix{n}.py": "from pkg.io import load\n" + c.TRAIN for n in (3, 7)}
             | {"pkg/__init__.py": "", "pkg/io.py": "def load(path):\n    return path\n"}),
        Case("valid-shared-steps-inside-two-experiment-scripts-main",
             {"pkg/__init__.py": "", "pkg/io.py": "def load(path):\n    return path\n",
              "experiments/ridge.py": c.EXPERIMENT_RIDGE, "experiments/trees.py": c.EXPERIMENT_TREES}),
        Case("valid-same-steps-in-two-stand-alone-scripts", {"jobs/daily.py": c.TRAIN + "\nbuild_features(None)\n",
                                                              "jobs/weekly.py": c.TRAIN + "\nbuild_features(None)\n"}),
        Case("invalid-same-steps-in-scripts-that-import-the-project-library",
             {"pkg/__init__.py": "", "pkg/io.py": "def load(path):\n    return path\n",
              **{f"jobs/{name}.py": "from pkg.io import load\n" + c.TRAIN + "\nbuild_features(load('x'))\n"
                 for name in ("daily", "weekly")}},
             (("PD302", "jobs/daily.py", 6),)),
        Case("invalid-readers-differing-only-in-the-folder-they-read", {"data/images.py": c.READERS},
             (("PD302", "data/images.py", 8),)),
        Case("valid-summary-table-copied-into-a-worksheet", {"analyses/scratch.py": c.LAP_REPORT,
                                                             "marts/laps.py": c.LAP_REPORT}),
        Case("valid-stream-demo-whose-features-are-only-shown",
             {"push.ipynb": c.notebook("import pandas as pd\n", c.STREAM_DEMO.format(n=1),
                                       "def later(x):\n    return x\n", c.STREAM_DEMO.format(n=2))}),
        Case("invalid-selection-and-one-encoding-repeated-to-publish-codes",
             {"models/encode_players.py": c.ENCODE_PLAYERS, "models/player_codes.py": c.PLAYER_CODES},
             (("PD302", "models/encode_players.py", 6),)),
        Case("invalid-two-steps-of-one-function-copied-apart",
             {"pkg/combined.py": c.COMBINED, "pkg/people.py": c.PEOPLE, "pkg/payments.py": c.PAYMENTS},
             (("PD302", "pkg/combined.py", 6), ("PD302", "pkg/combined.py", 11))),
        Case("valid-similar-tests", {"tests/test_a.py": c.TRAIN, "tests/test_b.py": c.TRAIN}),
        Case("valid-training-loop-in-nine-example-scripts",
             {f"examples/{name}/main.py": c.LOOP for name in ("mnist", "cifar", "gan", "vae", "rnn", "gcn", "gat",
                                                              "siamese", "dcgan")}),
        Case("valid-two-loss-classes-sharing-a-skeleton", {"losses.py": c.LOSSES}),
        Case("valid-two-scalers-sharing-a-skeleton", {"scaling.py": c.SCALERS}),
        Case("valid-plotting-and-logging-callback-copies", {"viz/a.py": c.PLOTS, "viz/b.py": c.PLOTS}),
    ),
)

RULES: tuple[Rule, ...] = (PREPROCESSING, FEATURE_LOGIC)

def _blocks(snapshot: RepoSnapshot) -> list[tuple[str, str, str | None, Block]]:
    """(path, role, reach, block) of every candidate block; reach is the role entry points give it, if any."""
    blocks = []
    for path, facts in sorted(snapshot.facts_of("duplication").items()):
        if not isinstance(facts, FileFacts) or facts.skipped is not None:
            continue
        for block in facts.blocks:
            role = block.role or _roles.block_role(facts.role, block.qualname)
            blocks.append((path, role, block.role or facts.entry, block))
    return blocks


def _exact_ratio(first: Sequence[Statement], second: Sequence[Statement]) -> float:
    """How much of two aligned regions is equal statement for statement once local names are normalised."""
    matcher = SequenceMatcher(None, [s.exact for s in first], [s.exact for s in second], autojunk=False)
    return 2 * sum(m.size for m in matcher.get_matching_blocks()) / max(len(first) + len(second), 1)


def _feature_region(statements: Sequence[Statement]) -> bool:
    """Feature steps carry the region: at least two, a quarter of it, and twice the plumbing it holds."""
    feature = sum(s.evidence for s in statements)
    plumbing = sum(s.plumbing for s in statements)
    return feature >= max(2, len(statements) / 4) and feature >= 2 * plumbing


def _core_kept(first: Sequence[Statement], second: Sequence[Statement], first_block: Sequence[Statement] = (),
               second_block: Sequence[Statement] = ()) -> bool:
    """Two algorithms sharing a skeleton differ in their core steps: most feature steps of one copy must be in the
    other too. A step is looked for in the other copy's whole function, since alignment by shape may pair it with
    a like-shaped neighbour (``df['a'] = enc(df['a'])`` against ``df['c'] = enc(df['c'])``)."""
    def kept(region: Sequence[Statement], other: Sequence[Statement]) -> bool:
        mine = [s.exact for s in region if s.evidence]
        theirs = {s.exact for s in other if s.evidence}
        return 3 * sum(e in theirs for e in mine) >= 2 * len(mine)

    if not (first_block and second_block):
        first_block, second_block = first, second
    return kept(first, second_block) or kept(second, first_block)


def _accepted(found: _compare.Match, blocks: Sequence[tuple[str, str, str | None, Block]],
              options: dict[str, float]) -> bool:
    if found.matched < options["min_statements"] or found.ratio < options["similarity"]:
        return False
    first, second = (blocks[r.block][3].statements[r.start:r.stop] for r in (found.first, found.second))
    if any(sum(s.tokens for s in region) < options["min_tokens"] or not _feature_region(region)
           for region in (first, second)):
        return False
    whole = [blocks[r.block][3].statements for r in (found.first, found.second)]
    return _exact_ratio(first, second) >= options["equal_share"] and _core_kept(first, second, *whole)


def _judge(copies: list[_report.Copy], snapshot: RepoSnapshot, options: dict[str, dict[str, float]],
           standalone: dict[str, bool], template: _report.Template | None = None) -> Finding | None:
    """The finding of one group, or None; ``template`` is the prompt template the copies build, if they do."""
    rule = PREPROCESSING if len({c.role for c in copies}) > 1 else FEATURE_LOGIC
    serving = [c for c in copies if c.reach in _roles.PREDICT_SIDE]
    training = [c for c in copies if c.reach == _roles.TRAINING]

    def build(risk: Risk, reason: str, note: str = "") -> Finding:
        if template:
            return _report.build_template(rule, copies, snapshot, risk, reason, template, note)
        return _report.build(rule, copies, snapshot, risk, reason, note)

    if serving and training:
        return build(Risk.HIGH, "a serving or scoring copy and a training copy can drift apart (training/serving "
                                "skew)")
    if _deliberate.exported(copies):
        return build(Risk.LOW, "a notebook and its exported script", "the script is exported from the notebook")
    deliberate = _deliberate.deliberate(copies, standalone)
    if deliberate:
        if not options[rule.id]["report_deliberate"]:
            return None
        return build(Risk.LOW, "deliberate copies", deliberate)
    if rule is PREPROCESSING:
        return build(Risk.MEDIUM, "copies in parts with different roles")
    return build(Risk.LOW, "the copies must be changed together")


def _template_groups(snapshot: RepoSnapshot) -> Iterator[tuple[str, list[_report.Copy], bool, str]]:
    """Prompt templates built from the same literal pieces in two functions or more, one of which passes the text
    to a tokenizer or generate call; within each lesson or example folder, the generating copy first."""
    by_skeleton: dict[str, dict[tuple[str, str], tuple[FileFacts, Template]]] = defaultdict(dict)
    for path, facts in sorted(snapshot.facts_of("duplication").items()):
        if isinstance(facts, FileFacts) and facts.skipped is None:
            for found in facts.templates:
                by_skeleton[found.skeleton].setdefault((path, found.qualname), (facts, found))
    # A prompt written out in full where the model is called, and the stored template it fills in by hand.
    patterns = [(place, held) for skeleton, places in by_skeleton.items() if skeleton.startswith(_template.PATTERN)
                for place, held in places.items()]
    for skeleton, places in sorted(by_skeleton.items()):
        if not skeleton.startswith(_template.FILLED):
            continue
        for place, (facts, found) in places.items():
            filled = next((p for p in patterns if p[0] != place and found.generates
                           and _template.fills(skeleton, p[1][1].skeleton)), None)
            if filled is not None:
                by_skeleton[filled[1][1].skeleton + "\0" + skeleton] = {place: (facts, found), filled[0]: filled[1]}
    for skeleton, places in sorted(by_skeleton.items()):
        if len(places) < 2 or not any(t.generates for _, t in places.values()):
            continue
        copies = []
        for (path, qualname), (facts, found) in places.items():
            statement = Statement(found.line, found.end_line, 0, 0, 0, True, False)
            block = Block(qualname, found.line, found.end_line, False, ())
            copies.append(_report.Copy(path, _roles.block_role(facts.role, qualname), facts.entry, block,
                                       (statement,), generates=found.generates))
        for members in _deliberate.within_folders(copies):
            if any(c.generates for c in members):
                pattern, _, filled = skeleton.partition("\0")
                drift = "" if not filled or _template.crlf(filled) == _template.crlf(pattern) else (
                    "its line endings already differ (\\r\\n in one, \\n in the other)")
                shown = pattern.removeprefix(_template.PATTERN).removeprefix(_template.FILLED)
                yield shown, sorted(members, key=lambda c: (not c.generates, _report.order_key(c))), bool(filled), drift


def _clusters(members: list[int], accepted: dict[tuple[int, int], _compare.Match],
              verify: Callable[[int, int], _compare.Match | None],
              equal: Callable[[_compare.Region, _compare.Region], bool]) -> Iterator[list[_compare.Region]]:
    """Split a chain of matches into groups whose every copy matches the group's first copy directly.

    Union-find alone chains A~B~C into one group even when A and C share nothing; the message compares each
    copy with the first one, so each copy must really be a copy of it: of the first copy's whole region (the
    union of its matches), not only of the part it matched, or the group is many different scripts around
    one shared step.
    """
    pending = members
    while len(pending) >= 2:
        leader, joined, leftover = pending[0], [], []
        for other in pending[1:]:
            key = (min(leader, other), max(leader, other))
            found = accepted[key] if key in accepted else verify(*key)
            if found is None:
                leftover.append(other)
            else:
                joined.append(_compare.oriented(found, leader))
        dropped: list[int] = []
        region = _compare.Region(leader, min(m.first.start for m in joined), max(m.first.stop for m in joined)) \
            if joined else None
        if region is not None and not all(equal(region, m.second) for m in joined):
            # the copies match different parts of the first one: the part most of them match is this group's,
            # and the copies of other parts form their own groups with it afterwards
            def support(candidate: _compare.Match, others: list[_compare.Match] = joined) -> tuple[int, int, int]:
                return (sum(equal(candidate.first, m.second) for m in others), candidate.matched,
                        -candidate.second.block)

            best = max(joined, key=support)
            kept = [m for m in joined if m is best or equal(best.first, m.second)]
            dropped = [m.second.block for m in joined if all(m is not k for k in kept)]
            joined, region = kept, best.first
        if joined and region is not None:
            yield [region, *(m.second for m in joined)]
            pending = [leader, *dropped, *leftover] if dropped else leftover
        else:
            pending = pending[1:]


_WholeGroup = tuple[list[int], dict[int, list[str]]]


def _whole_groups(blocks: Sequence[tuple[str, str, str | None, Block]]) -> tuple[list[_WholeGroup], set[int]]:
    """Whole functions (and lambdas) copied identically up to local names, neighbours in the same files merged:
    each group's members, for each member the names of the functions copied with it (its ``decode``), and the
    blocks merged into another group (never compared again, so one copy is one finding)."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for index, (_, _, _, block) in enumerate(blocks):
        if block.whole:
            buckets[block.whole].append(index)
    groups = [members for members in buckets.values() if len(members) >= 2]
    merged: dict[tuple, tuple[list[int], dict[int, list[str]]]] = {}
    absorbed: set[int] = set()
    for members in sorted(groups):
        places = tuple(sorted((blocks[b][0], blocks[b][3].qualname.rpartition(".")[0]) for b in members))
        if places in merged and len({blocks[b][0] for b in members}) == len(members):
            # encode and decode copied together are one copy of a tokeniser
            kept, together = merged[places]
            partner = {blocks[b][0]: blocks[b][3].qualname.rsplit(".", 1)[-1] for b in members}
            for b in kept:
                together[b].append(partner[blocks[b][0]])
            absorbed.update(members)
            continue
        merged[places] = (members, {b: [] for b in members})
    return list(merged.values()), absorbed


def find_duplicated_feature_logic(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
    """One finding per clone group of feature logic; PD301 when its copies cross roles, PD302 otherwise."""
    started = time.perf_counter()
    result = AnalysisResult()
    options = {rule.id: {name: float(config.option(rule, name)) for name in _OPTIONS} for rule in RULES}
    loosest = {name: min(options[rule.id][name] for rule in RULES) for name in _OPTIONS}
    blocks = _blocks(snapshot)
    groups: list[list[_report.Copy]] = []
    whole_groups, in_whole = _whole_groups(blocks)
    for members, together in whole_groups:
        in_whole.update(members)
        groups.append([_report.Copy(blocks[b][0], blocks[b][1], blocks[b][2], blocks[b][3], blocks[b][3].statements,
                                    tuple(together[b])) for b in members])
    shapes = [[] if index in in_whole else [s.shape for s in block.statements]
              for index, (_, _, _, block) in enumerate(blocks)]
    pairs, fingerprints = _compare.candidate_pairs(shapes, 1)

    def verify(first: int, second: int) -> _compare.Match | None:
        found = _compare.match(first, second, shapes)
        return found if found is not None and _accepted(found, blocks, loosest) else None

    def equal(whole: _compare.Region, copy: _compare.Region) -> bool:
        """Most of the first copy's whole region is in this copy, statement for statement."""
        mine = [s.exact for s in blocks[whole.block][3].statements[whole.start:whole.stop]]
        theirs = [s.exact for s in blocks[copy.block][3].statements[copy.start:copy.stop]]
        matcher = SequenceMatcher(None, mine, theirs, autojunk=False)
        return sum(m.size for m in matcher.get_matching_blocks()) >= loosest["equal_share"] * len(mine)

    accepted = {pair: m for pair in sorted(pairs) if (m := verify(*pair)) is not None}
    for component in _compare.components(list(accepted.values())):
        for regions in _clusters(sorted(component), accepted, verify, equal):
            copies = [_report.Copy(blocks[r.block][0], blocks[r.block][1], blocks[r.block][2], blocks[r.block][3],
                                   blocks[r.block][3].statements[r.start:r.stop]) for r in regions]
            rule = PREPROCESSING if len({c.role for c in copies}) > 1 else FEATURE_LOGIC
            if min(len(c.statements) for c in copies) >= options[rule.id]["min_statements"]:
                groups.append(copies)
    standalone = _deliberate.standalone(snapshot)
    for copies in groups:
        found = _judge(sorted(copies, key=_report.order_key), snapshot, options, standalone)
        if found is not None:
            result.findings.append(found)
    for skeleton, copies, filled, drift in _template_groups(snapshot):
        found = _judge(copies, snapshot, options, standalone, _report.Template(skeleton, filled, drift))
        if found is not None:
            result.findings.append(found)
    result.stats = {"blocks": len(blocks), "fingerprints": fingerprints, "candidate_pairs": len(pairs),
                    "matches": len(accepted), "groups": len(result.findings),
                    "seconds": round(time.perf_counter() - started, 3)}
    return result


ANALYZER = Analyzer(name="duplication", version="8", rules=RULES, find=find_duplicated_feature_logic,
                    extract=_extract_facts)
