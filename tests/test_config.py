"""Configuration: `.paydown.toml`, `[tool.paydown]`, `--config`, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import Config, ConfigError, DeclaredInput, load_config, parse_config
from paydown.analyzers.finding import Priority
from paydown.analyzers.runner import scan
from paydown.cli import main

LOOSE = "numpy>=1.2\n"


def findings(root: Path, config: Config | None = None) -> set[tuple[str, str, int]]:
    report = scan(root, config if config is not None else load_config(root, ALL_RULES), use_cache=False, jobs=1)
    return {(f.rule_id, f.location.path, f.location.line) for f in report.findings}


def loose_rule(root: Path):
    report = scan(root, Config(), use_cache=False, jobs=1)
    assert report.findings
    return next(rule for rule in ALL_RULES if rule.id == report.findings[0].rule_id)


def test_no_configuration_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path, ALL_RULES) == Config()


def test_paydown_toml_is_read(tmp_path: Path) -> None:
    (tmp_path / ".paydown.toml").write_text('exclude = ["gen/"]\nfail_on = "medium"\n', encoding="utf-8")
    config = load_config(tmp_path, ALL_RULES)
    assert config.exclude == ("gen/",)
    assert config.fail_on is Priority.MEDIUM
    assert config.source == ".paydown.toml"


def test_pyproject_tool_paydown_is_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.paydown]\nexclude = ["gen/"]\n', encoding="utf-8")
    assert load_config(tmp_path, ALL_RULES).exclude == ("gen/",)


def test_paydown_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.paydown]\nexclude = ["a/"]\n', encoding="utf-8")
    (tmp_path / ".paydown.toml").write_text('exclude = ["b/"]\n', encoding="utf-8")
    assert load_config(tmp_path, ALL_RULES).exclude == ("b/",)


def test_pyproject_without_a_paydown_table_gives_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = 100\n', encoding="utf-8")
    assert load_config(tmp_path, ALL_RULES) == Config()


def test_exclude_leaves_files_out_of_the_scan(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": LOOSE, "gen/requirements.txt": LOOSE,
                                ".paydown.toml": 'exclude = ["gen/"]\n'})
    paths = {path for _, path, _ in findings(root)}
    assert "requirements.txt" in paths
    assert "gen/requirements.txt" not in paths


@pytest.mark.parametrize("by", ["id", "name"])
@pytest.mark.parametrize("where", [".paydown.toml", "pyproject.toml"])
def test_a_rule_can_be_disabled_by_id_or_name(tmp_path: Path, make_repo, by: str, where: str) -> None:
    root = make_repo(tmp_path, {"requirements.txt": LOOSE})
    rule = loose_rule(root)
    key = rule.id if by == "id" else rule.name
    prefix = "tool.paydown." if where == "pyproject.toml" else ""
    (root / where).write_text(f'[{prefix}rules.{key}]\nenabled = false\n', encoding="utf-8")
    config = load_config(root, ALL_RULES)
    assert not config.enabled(rule)
    assert rule.id not in {rule_id for rule_id, _, _ in findings(root, config)}


def test_enabled_true_keeps_the_rule(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": LOOSE})
    rule = loose_rule(root)
    (root / ".paydown.toml").write_text(f'[rules.{rule.id}]\nenabled = true\n', encoding="utf-8")
    assert rule.id in {rule_id for rule_id, _, _ in findings(root)}


def test_select_and_ignore_in_the_file(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": LOOSE})
    rule = loose_rule(root)
    (root / ".paydown.toml").write_text(f'ignore = ["{rule.kind.value}"]\n', encoding="utf-8")
    assert findings(root) == set()
    (root / ".paydown.toml").write_text('select = ["dead-flag"]\n', encoding="utf-8")
    assert findings(root) == set()


def test_inputs_are_declared(tmp_path: Path) -> None:
    (tmp_path / ".paydown.toml").write_text(
        '[[inputs]]\nname = "clicks"\nuri = "s3://bucket/clicks/"\nowner = "data-team"\ncontract = "docs/c.md"\n',
        encoding="utf-8")
    assert load_config(tmp_path, ALL_RULES).inputs == (
        DeclaredInput("clicks", "s3://bucket/clicks/", "data-team", "docs/c.md"),)


def _first_option():
    for rule in ALL_RULES:
        for name, default in rule.options.items():
            return rule, name, default
    return None


BAD = [
    pytest.param("colour = true\n", "colour", id="unknown-top-key"),
    pytest.param("[rules.PD999]\nenabled = false\n", "rules.PD999", id="unknown-rule"),
    pytest.param("[rules.PD201]\nno_such_option = 1\n", "rules.PD201.no_such_option", id="unknown-option"),
    pytest.param('[rules.PD201]\nenabled = "no"\n', "rules.PD201.enabled", id="enabled-not-bool"),
    pytest.param("rules = 3\n", "rules", id="rules-not-a-table"),
    pytest.param("[rules]\nPD201 = true\n", "rules.PD201", id="rule-not-a-table"),
    pytest.param('exclude = "build/"\n', "exclude", id="exclude-not-a-list"),
    pytest.param("exclude = [1]\n", "exclude", id="exclude-not-strings"),
    pytest.param('select = ["no-such-rule"]\n', "select", id="select-unknown"),
    pytest.param('ignore = ["no-such-rule"]\n', "ignore", id="ignore-unknown"),
    pytest.param('fail_on = "critical"\n', "fail_on", id="fail-on-unknown"),
    pytest.param('inputs = "x"\n', "inputs", id="inputs-not-an-array"),
    pytest.param("inputs = [1]\n", "inputs[0]", id="input-not-a-table"),
    pytest.param('[[inputs]]\nname = "x"\nowner = "me"\n', "inputs[0].uri", id="input-missing-uri"),
    pytest.param('[[inputs]]\nname = "x"\nuri = "u"\nowner = "o"\ncolour = 1\n', "inputs[0].colour",
                 id="input-unknown-key"),
    pytest.param('[[inputs]]\nname = "x"\nuri = "u"\nowner = "o"\n[[inputs]]\nname = 3\nuri = "u"\nowner = "o"\n',
                 "inputs[1].name", id="second-input-wrong-type"),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_paydown_toml_names_the_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    (tmp_path / ".paydown.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, ALL_RULES)
    assert ".paydown.toml" in str(error.value)
    assert key in str(error.value)
    assert error.value.key == key or error.value.key.startswith(key)


@pytest.mark.parametrize(("text", "key"), BAD)
def test_bad_tool_paydown_names_pyproject_and_key(tmp_path: Path, text: str, key: str) -> None:
    # Turn a top-level `.paydown.toml` into the same `[tool.paydown]` table.
    text = text.replace("[[inputs]]", "[[tool.paydown.inputs]]").replace("[rules", "[tool.paydown.rules")
    if not text.startswith("["):
        text = "[tool.paydown]\n" + text
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, ALL_RULES)
    assert "pyproject.toml" in str(error.value)
    assert key in str(error.value)


def test_wrong_option_type_names_the_key(tmp_path: Path) -> None:
    found = _first_option()
    if found is None:
        # No registered rule has options: any option is unknown, which the unknown-option case covers.
        with pytest.raises(ConfigError, match=r"rules\.PD201\.x"):
            parse_config({"rules": {"PD201": {"x": 1}}}, ".paydown.toml", ALL_RULES)
        return
    rule, name, default = found
    wrong = [1] if not isinstance(default, list) else "not a list"
    with pytest.raises(ConfigError) as error:
        parse_config({"rules": {rule.id: {name: wrong}}}, ".paydown.toml", ALL_RULES)
    assert f"rules.{rule.id}.{name}" in str(error.value)
    config = parse_config({"rules": {rule.name: {name: default}}}, ".paydown.toml", ALL_RULES)
    assert config.option(rule, name) == default


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".paydown.toml").write_text("exclude = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.paydown\.toml"):
        load_config(tmp_path, ALL_RULES)


def test_undecodable_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".paydown.toml").write_bytes(b"exclude = ['\xff']\n")
    with pytest.raises(ConfigError, match=r"\.paydown\.toml"):
        load_config(tmp_path, ALL_RULES)


def test_explicit_config_file(tmp_path: Path, make_repo, capsys) -> None:
    root = make_repo(tmp_path, {"requirements.txt": LOOSE})
    rule = loose_rule(root)
    elsewhere = tmp_path / "settings" / "paydown.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f'[rules.{rule.id}]\nenabled = false\n', encoding="utf-8")
    config = load_config(root, ALL_RULES, elsewhere)
    assert not config.enabled(rule)
    assert main(["scan", str(root), "--config", str(elsewhere), "--format", "json", "--no-cache"]) == 0
    assert '"findings": []' in capsys.readouterr().out


def test_explicit_pyproject_reads_its_tool_table(tmp_path: Path) -> None:
    explicit = tmp_path / "other" / "pyproject.toml"
    explicit.parent.mkdir()
    explicit.write_text('[tool.paydown]\nexclude = ["x/"]\n', encoding="utf-8")
    assert load_config(tmp_path, ALL_RULES, explicit).exclude == ("x/",)


def test_explicit_config_errors_name_that_file(tmp_path: Path, capsys) -> None:
    explicit = tmp_path / "mine.toml"
    explicit.write_text("colour = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path, ALL_RULES, explicit)
    assert "mine.toml" in str(error.value) and "colour" in str(error.value)
    assert main(["scan", str(tmp_path), "--config", str(explicit)]) == 2
    assert "mine.toml" in capsys.readouterr().err


def test_missing_explicit_config_is_an_error(tmp_path: Path, capsys) -> None:
    assert main(["scan", str(tmp_path), "--config", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml" in capsys.readouterr().err


def test_a_refused_paydown_toml_counts_as_absent_and_is_listed(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside.toml"
    root.mkdir()
    outside.write_text('exclude = ["a/"]\n', encoding="utf-8")
    (root / ".paydown.toml").symlink_to(outside)
    (root / "pyproject.toml").write_text('[tool.paydown]\nexclude = ["b/"]\n', encoding="utf-8")
    config = load_config(root, ALL_RULES)
    assert config.exclude == ("b/",)
    assert [(p.path, p.reason) for p in config.problems] == [(".paydown.toml", "symlink")]
