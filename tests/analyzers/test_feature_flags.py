"""What the feature-flag cases cannot say: messages, git staleness, fingerprints, bad input, fixtures."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from paydown.analyzers.config import Config, RuleSettings
from paydown.analyzers.runner import Report, scan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feature_flags"
EXPECT = re.compile(r"#\s*expect:\s*(?P<ids>PD\d{3}(?:\s*,\s*PD\d{3})*)")

SETTINGS = "USE_NEW_TOKENIZER = False\n"
TRAIN = (
    "from pkg import settings\n"
    "\n"
    "\n"
    "def tokenize(text):\n"
    "    if settings.USE_NEW_TOKENIZER:\n"
    "        words = text.split()\n"
    "        return words\n"
    "    return list(text)\n"
)


def _scan(root: Path, config: Config | None = None) -> Report:
    return scan(root, config or Config(), use_cache=False, jobs=1)


def _found(report: Report, prefix: str = "PD1") -> set[tuple[str, str, int]]:
    return {(f.rule_id, f.location.path, f.location.line) for f in report.findings if f.rule_id.startswith(prefix)}


def _commit(root: Path, date: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "flags"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false",
                        *args], cwd=root, env=env, check=True, capture_output=True)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_message_names_flag_dead_branch_and_readers(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"pkg/__init__.py": "", "pkg/settings.py": SETTINGS, "pkg/train.py": TRAIN})
    [finding] = [f for f in _scan(root).findings if f.rule_id == "PD101"]
    assert "USE_NEW_TOKENIZER" in finding.message
    assert "always False" in finding.message
    assert "pkg/train.py:5" in finding.message  # the reader
    assert "never runs its body (lines 6-7)" in finding.message  # the dead branch
    assert finding.symbol == "pkg.settings.USE_NEW_TOKENIZER"
    assert [(r.path, r.line) for r in finding.related] == [("pkg/train.py", 5)]


def test_option_passed_by_script_says_so(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "train.py": "import argparse\n\np = argparse.ArgumentParser()\np.add_argument('--use-new-tokenizer')\n"
                    "args = p.parse_args()\n",
        "scripts/run.sh": "python train.py --use-new-tokenizer 1\n",
        "scripts/other.sh": "python train.py --use-new-tokenizer-v2\n",
    })
    [finding] = [f for f in _scan(root).findings if f.rule_id == "PD102"]
    assert "use_new_tokenizer" in finding.message
    assert "scripts/run.sh passes it" in finding.message
    assert "other.sh" not in finding.message


def test_dataclass_field_finding_names_the_class_and_its_parser(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "fit.py": "from dataclasses import dataclass\n\nimport tyro\n\n\n@dataclass\nclass FitArgs:\n"
                  "    lr: float = 0.1\n    shuffle: bool = True\n\n\nargs = tyro.cli(FitArgs)\nprint(args.lr)\n",
        "run.sh": "python fit.py --shuffle False\n",
    })
    [finding] = [f for f in _scan(root).findings if f.rule_id == "PD102"]
    assert (finding.location.path, finding.location.line, finding.symbol) == ("fit.py", 9, "FitArgs.shuffle")
    assert "`FitArgs`" in finding.message and "tyro.cli" in finding.message
    assert "run.sh passes it" in finding.message


def test_old_dead_switch_is_one_finding_that_says_it_is_stale(tmp_path: Path) -> None:
    root = _write(tmp_path / "repo", {"a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"})
    _commit(root, "2020-01-01T00:00:00+00:00")
    report = _scan(root)
    assert _found(report) == {("PD101", "a.py", 1)}, "PD103 is merged into PD101: one finding per switch"
    [dead] = report.findings
    assert re.search(r"not changed in git for \d+\.\d years: dead that long, it is a stale flag", dead.message)
    recent = _write(tmp_path / "recent", {"a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"})
    _commit(recent, datetime.now(UTC).isoformat(timespec="seconds"))
    [fresh] = _scan(recent).findings
    assert "stale" not in fresh.message and "not changed in git for 0 days." in fresh.message
    assert dead.impact.interest_hours_per_month > fresh.impact.interest_hours_per_month


def test_stale_days_option_of_the_merged_rule_still_applies(tmp_path: Path) -> None:
    root = _write(tmp_path / "repo", {"a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"})
    _commit(root, "2020-01-01T00:00:00+00:00")
    config = Config(rules={"PD103": RuleSettings(options={"stale_days": 100_000})})
    [finding] = _scan(root, config).findings
    assert finding.rule_id == "PD101" and "stale" not in finding.message
    [quiet] = _scan(root, Config(ignore=("PD103",))).findings
    assert quiet.rule_id == "PD101" and "git" not in quiet.message


def test_settings_and_suppressions_naming_pd103_are_accepted(tmp_path: Path, capsys) -> None:
    from paydown.analyzers import ALL_RULES
    from paydown.analyzers.config import parse_config
    from paydown.cli import main

    config = parse_config({"ignore": ["PD103"], "rules": {"PD103": {"stale_days": 30}}}, ".paydown.toml", ALL_RULES)
    assert config.ignore == ("PD103",)
    root = _write(tmp_path / "repo", {"a.py": "LEGACY = False  # paydown: ignore[PD103]\nif LEGACY:\n    print(1)\n"})
    _commit(root, "2020-01-01T00:00:00+00:00")
    assert _found(_scan(root)) == {("PD101", "a.py", 1)}, "naming the merged rule silences only the age it gave"
    assert main(["explain", "PD103"]) == 0
    assert "Merged into PD101" in capsys.readouterr().out
    main(["rules"])
    assert re.search(r"PD103 .*Merged into PD101", capsys.readouterr().out)


def test_not_a_git_repository_skips_staleness_quietly(tmp_path: Path) -> None:
    root = _write(tmp_path / "plain", {"a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"})
    report = _scan(root)
    assert _found(report) == {("PD101", "a.py", 1)}
    assert not report.errors


def test_uncommitted_line_is_not_stale(tmp_path: Path) -> None:
    root = _write(tmp_path / "repo", {"a.py": "X = 1\n"})
    _commit(root, "2020-01-01T00:00:00+00:00")
    (root / "a.py").write_text("LEGACY = False\nif LEGACY:\n    print(1)\n", encoding="utf-8")
    [finding] = _scan(root).findings
    assert finding.rule_id == "PD101" and "git" not in finding.message


def test_fingerprint_survives_inserted_lines_and_changes_on_rename(tmp_path: Path, make_repo) -> None:
    files = {"pkg/__init__.py": "", "pkg/settings.py": SETTINGS, "pkg/train.py": TRAIN}

    def fingerprint(name: str, settings: str, train: str) -> str:
        root = make_repo(tmp_path, {**files, "pkg/settings.py": settings, "pkg/train.py": train}, name=name)
        [finding] = [f for f in _scan(root).findings if f.rule_id == "PD101"]
        return finding.fingerprint

    first = fingerprint("a", SETTINGS, TRAIN)
    assert fingerprint("b", "\n" * 20 + SETTINGS, "# x\n" * 20 + TRAIN) == first
    renamed = fingerprint("c", SETTINGS.replace("USE_NEW", "USE_OLD"), TRAIN.replace("USE_NEW", "USE_OLD"))
    assert renamed != first


def test_unparseable_file_is_reported_and_skipped(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"broken.py": "def (:\n", "a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"})
    report = _scan(root)
    assert ("PD101", "a.py", 1) in _found(report)
    assert any(e.path == "broken.py" for e in report.errors)


def test_real_repository_pattern_number_compared_in_and(tmp_path: Path, make_repo) -> None:
    # pytorch-lightning examples/fabric/dcgan: `num_gpus = 1` then `if (device.type == "cuda") and (num_gpus > 1):`
    root = make_repo(tmp_path, {"train.py": "num_gpus = 1\n\n\ndef main(device):\n"
                                            "    if (device.type == 'cuda') and (num_gpus > 1):\n        pass\n"})
    assert _found(_scan(root), "PD101") == {("PD101", "train.py", 1)}


def test_and_operand_that_does_not_decide_is_not_reported(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"a.py": "FAST = True\n\n\ndef f(x):\n    if FAST and x:\n        pass\n"
                                        "    while FAST:\n        break\n"})
    assert _found(_scan(root), "PD101") == set()


def test_realistic_fixture_matches_its_expect_markers(tmp_path: Path, make_repo) -> None:
    folder = FIXTURES / "realistic"
    files = {p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8") for p in folder.rglob("*")
             if p.is_file()}
    expected = {
        (rule_id.strip(), rel, number)
        for rel, text in files.items()
        for number, line in enumerate(text.splitlines(), start=1)
        if (match := EXPECT.search(line))
        for rule_id in match.group("ids").split(",")
    }
    root = make_repo(tmp_path, files)
    assert _found(_scan(root)) == expected


# PD104 ------------------------------------------------------------------------------------------------------

CONFIG_YAML = "model:\n  seed: 1\n  layers: 2\nseed: 7\ntrain:\n  lr: 0.1\n"


def _pd104(root: Path) -> list:
    return sorted((f for f in _scan(root).findings if f.rule_id == "PD104"), key=lambda f: f.symbol)


def test_pd104_broken_config_no_crash_other_findings_remain(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "broken.yaml": "a: [1, 2\nb: : :\n", "good.yaml": "used: 1\nunused: 2\n",
        "train.py": "import yaml\n\nwith open('broken.yaml') as f:\n    bad = yaml.safe_load(f)\n"
                    "print(bad['a'])\nwith open('good.yaml') as f:\n    good = yaml.safe_load(f)\n"
                    "print(good['used'])\nDEBUG = False\nif DEBUG:\n    print(1)\n",
    })
    report = _scan(root)
    assert not report.errors
    assert {(f.rule_id, f.location.path, f.location.line) for f in report.findings if f.rule_id in ("PD101", "PD104")} \
        == {("PD101", "train.py", 9), ("PD104", "good.yaml", 2)}


def test_pd104_message_symbol_and_nested_line(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "conf/c.yaml": CONFIG_YAML,
        "conf/run.py": "import yaml\nfrom pathlib import Path\n\n"
                       "cfg = yaml.safe_load(Path('conf/c.yaml').read_text())\n"
                       "\n\ndef lr():\n    return cfg['train']['lr'] * cfg.get('model').get('layers')\n",
    })
    found = _pd104(root)
    assert [(f.symbol, f.location.line) for f in found] == [("conf/c.yaml:model.seed", 2), ("conf/c.yaml:seed", 4)]
    message = found[1].message
    assert "`seed`" in message and "conf/c.yaml" in message and "conf/run.py:4" in message and "never read" in message
    assert found[0].impact.risk.value == "low"


def test_pd104_toml_relative_to_reading_file(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "app/settings.toml": "name = 'x'\n[db]\nhost = 'h'\nport = 1\n",
        "app/main.py": "import tomllib\n\n\ndef main():\n    with open('settings.toml', 'rb') as f:\n"
                       "        conf = tomllib.load(f)\n    return conf['db']['host'] + conf['name']\n",
    })
    assert [(f.symbol, f.location.line) for f in _pd104(root)] == [("app/settings.toml:db.port", 4)]


def test_pd104_escapes_attribute_and_import(tmp_path: Path, make_repo) -> None:
    base = {"c.yaml": CONFIG_YAML}
    stored = {**base, "a.py": "import yaml\n\n\nclass A:\n    def __init__(self):\n"
                              "        self.cfg = yaml.safe_load(open('c.yaml'))\n"}
    imported = {**base, "a.py": "import yaml\n\ncfg = yaml.safe_load(open('c.yaml'))\nprint(cfg['seed'])\n",
                "b.py": "from a import cfg\n\nrun(cfg)\n"}
    returned = {**base, "a.py": "import yaml\n\n\ndef load():\n    cfg = yaml.full_load(open('c.yaml'))\n"
                                "    return cfg\n"}
    mentioned = {**base, "a.py": "import yaml\n\ncfg = yaml.safe_load(open('c.yaml'))\nprint(cfg['seed'])\n",
                 "run.sh": "python other.py --config c.yaml\n"}
    for i, files in enumerate((stored, imported, returned, mentioned)):
        assert _pd104(make_repo(tmp_path / str(i), files)) == [], files


def test_hydra_key_finding_names_the_composed_path_and_the_entry_point(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "conf/config.yaml": "defaults:\n  - optim: sgd\n  - _self_\n\nepochs: 2\n",
        "conf/optim/sgd.yaml": "lr: 0.1\nnesterov: true\n",
        "train.py": "import hydra\n\n\n@hydra.main(config_path='conf', config_name='config', version_base=None)\n"
                    "def main(cfg):\n    print(cfg.epochs, cfg.optim.lr)\n",
    })
    [finding] = [f for f in _scan(root).findings if f.rule_id == "PD104"]
    assert (finding.location.path, finding.location.line) == ("conf/optim/sgd.yaml", 2)
    assert "`optim.nesterov`" in finding.message and "train.py" in finding.message
