"""A repository's own files cannot hang a scan: globs, YAML aliases, config keys and long lines cost near-linear
time by construction, and what is past a cap is reported by name while the rest is still analysed.

The work runs in a child process with a deadline (and a memory ceiling), so code that backtracks or expands
fails the test in bounded time instead of hanging the suite.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import ConfigError, load_config
from paydown.analyzers.snapshot import (
    MAX_YAML_ALIASES,
    YAMLTooExpanded,
    bounded_glob,
    iter_paths,
    load_yaml,
    parse_yaml,
)

DEADLINE = 10.0  # seconds; each case took from 27 s to past two minutes before it was bounded
MEMORY = 1 << 30  # bytes of address space for the child: an alias bomb expanded to 1.4 GB
SIX_STARS = "*a*a*a*a*a*b"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _run_bounded(code: str, *args: str) -> tuple[str, float]:
    """Run ``code`` in a child Python with ``args``; (stdout, seconds), failing past DEADLINE."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                              timeout=DEADLINE, preexec_fn=_limit_memory, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {DEADLINE:.0f} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, time.monotonic() - started


def _scan_json(root: Path) -> dict:
    out, _seconds = _run_bounded("""
        import json, sys
        from pathlib import Path
        from paydown.analyzers import ALL_RULES
        from paydown.analyzers.config import load_config
        from paydown.analyzers.runner import scan
        root = Path(sys.argv[1])
        report = scan(root, load_config(root, ALL_RULES))
        print(json.dumps({"findings": sorted({(f.rule_id, f.location.path) for f in report.findings}),
                          "problems": [p.to_dict() for p in report.errors]}))
    """, str(root))
    return json.loads(out)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# globs -----------------------------------------------------------------------------------------------------


def test_exclude_with_many_stars_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    _write(tmp_path, {".paydown.toml": f'exclude = ["build/**", "{SIX_STARS}"]\n'})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, ALL_RULES)
    assert caught.value.path == ".paydown.toml"
    assert caught.value.key == "exclude[1]"


def test_too_many_excludes_are_a_config_error(tmp_path: Path) -> None:
    patterns = ", ".join(f'"dir{i}/"' for i in range(1_001))
    _write(tmp_path, {".paydown.toml": f"exclude = [{patterns}]\n"})
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, ALL_RULES)
    assert caught.value.key == "exclude"


def test_pathological_globs_against_long_names_finish_in_bounded_time(tmp_path: Path) -> None:
    long_name = "a" * 240 + ".py"
    _write(tmp_path, {".gitignore": f"{SIX_STARS}\n*.log\n", long_name: "x = 1\n", "keep.py": "y = 2\n",
                      "debug.log": "",  "sub/" + long_name: ""})
    out, seconds = _run_bounded("""
        import json, sys
        from pathlib import Path
        from paydown.analyzers.snapshot import iter_paths
        problems = []
        paths = [rel for rel, _ in iter_paths(Path(sys.argv[1]), [sys.argv[2]], problems)]
        print(json.dumps({"paths": paths, "problems": [p.to_dict() for p in problems]}))
    """, str(tmp_path), SIX_STARS)
    found = json.loads(out)
    assert "keep.py" in found["paths"] and "debug.log" not in found["paths"]
    assert [(p["path"], p["reason"]) for p in found["problems"]] == [(".gitignore", "too-complex")]
    assert "line 1" in found["problems"][0]["message"]
    assert seconds < DEADLINE


@pytest.mark.parametrize(("pattern", "bounded"), [
    ("a***b.py", "a*b.py"), ("build/***", "build/**"), ("**/x/**", "**/x/**"), ("*.py[cod]", "*.py[cod]"),
    (r"a\**b", r"a\**b"), ("*a*b", "*a*b"),
])
def test_runs_of_stars_collapse_and_common_patterns_pass(pattern: str, bounded: str) -> None:
    assert bounded_glob(pattern) == (bounded, "")


@pytest.mark.parametrize("pattern", [SIX_STARS, "*a*a*b", "a/**/b/**/c/**/d", "x" * 1_001])
def test_complex_patterns_are_refused_with_the_reason(pattern: str) -> None:
    kept, why = bounded_glob(pattern)
    assert kept == "" and why


def test_collapsed_excludes_still_exclude(tmp_path: Path) -> None:
    _write(tmp_path, {"build/x.py": "", "a_b.py": "", "keep.py": ""})
    assert [rel for rel, _ in iter_paths(tmp_path, ["build/***", "a***b.py"])] == ["keep.py"]


_READS_ONE_KEY = "import yaml\n\n\ndef main():\n    with open('config.yaml') as f:\n        cfg = yaml.safe_load(f)\n" \
                 "    print(cfg['key0'])\n"


# YAML ------------------------------------------------------------------------------------------------------


def _alias_bomb(levels: int = 9) -> str:
    """Nine levels of nine aliases to the level below: 1 KB of text, 9**8 mappings once expanded."""
    keys = [f"k{i}" for i in range(9)]
    lines = ["a0: &a0 {" + ", ".join(f"{k}: lol" for k in keys) + "}"]
    lines += [f"a{i}: &a{i} {{" + ", ".join(f"{k}: *a{i - 1}" for k in keys) + "}" for i in range(1, levels)]
    return "\n".join(lines) + f"\nname: bomb\ndependencies:\n  - numpy\n  - pip: *a{levels - 1}\n"


def test_alias_bomb_in_environment_yml_is_reported_and_the_scan_goes_on(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"environment.yml": _alias_bomb(), "requirements.txt": "requests\n",
                                "config.yaml": _alias_bomb(), "main.py": _READS_ONE_KEY})
    found = _scan_json(root)
    refused = {p["path"] for p in found["problems"] if p["reason"] == "too-large"}
    assert refused == {"environment.yml", "config.yaml"}  # PD104 walked every key path of the expanded tree
    assert any(path == "requirements.txt" for _rule, path in found["findings"])


def test_aliases_past_the_count_are_refused() -> None:
    text = "x: &x 1\nys: [" + ", ".join(["*x"] * (MAX_YAML_ALIASES + 1)) + "]\n"
    with pytest.raises(YAMLTooExpanded):
        load_yaml(text)
    assert parse_yaml("compose.yaml", text)[1].reason == "too-large"


def test_ordinary_aliases_and_merge_keys_still_load() -> None:
    text = "base: &base {image: python, ports: [1, 2]}\nweb:\n  <<: *base\n  ports: [3]\nalso: *base\n"
    assert load_yaml(text) == yaml.safe_load(text)


# config keys -----------------------------------------------------------------------------------------------


def test_many_config_keys_are_judged_in_linear_time(tmp_path: Path, make_repo) -> None:
    keys = 5_000
    root = make_repo(tmp_path, {"config.yaml": "".join(f"key{i}: {i}\n" for i in range(keys)),
                                "main.py": _READS_ONE_KEY})
    found = _scan_json(root)
    assert sum(rule == "PD104" for rule, _path in found["findings"]) == 1  # one (path, rule) pair: config.yaml
    assert found["problems"] == []


def test_config_past_the_key_cap_is_reported_not_judged(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"config.yaml": "".join(f"key{i}: {i}\n" for i in range(20_000)),
                                "main.py": _READS_ONE_KEY, "requirements.txt": "requests\n"})
    found = _scan_json(root)
    assert [(p["path"], p["reason"]) for p in found["problems"]] == [("config.yaml", "too-large")]
    assert not any(rule == "PD104" for rule, _path in found["findings"])
    assert any(path == "requirements.txt" for _rule, path in found["findings"])


def test_json_config_keys_keep_their_lines(tmp_path: Path, make_repo) -> None:
    from paydown.analyzers.feature_flags._keylines import key_lines

    text = '{\n  "a": 1,\n  "b": {\n    "c": 2,\n    "d": [{"e": 3}]\n  },\n  "f\\"g": 4\n}\n'
    line_of = key_lines(text, "json", lambda *_: 1)
    assert [line_of(k) for k in [("a",), ("b",), ("b", "c"), ("b", "d"), ('f"g',), ("zz",)]] == [2, 3, 4, 5, 7, 1]


# requirements lines ----------------------------------------------------------------------------------------


def test_requirements_line_of_spaces_is_linear_and_reported(tmp_path: Path) -> None:
    out, seconds = _run_bounded("""
        import json
        from paydown.analyzers.dependencies._requirements import parse_requirements_file
        parsed = parse_requirements_file("requirements.txt", "x" + " " * 100_000 + "y\\nrequests\\n")
        print(json.dumps([[d.name for d in parsed.declared], [p.to_dict() for p in parsed.problems]]))
    """)
    names, problems = json.loads(out)
    assert names == ["requests"]
    assert [(p["reason"], p["message"].split(":")[0]) for p in problems] == [("too-large", "line 1")]
    assert seconds < DEADLINE


def test_setup_cfg_line_of_spaces_is_linear() -> None:
    _out, seconds = _run_bounded("""
        from paydown.analyzers.dependencies._formats import parse_setup_cfg
        text = "[options]\\ninstall_requires =\\n    requests" + " " * 100_000 + ">=2\\n"
        assert [d.name for d in parse_setup_cfg("setup.cfg", text).declared] == ["requests"]
    """)
    assert seconds < DEADLINE


# searches for the lines of parsed values ------------------------------------------------------------------


def test_compose_file_whose_images_the_line_search_misses_is_linear() -> None:
    _out, seconds = _run_bounded("""
        from paydown.analyzers.dependencies._images import scan_compose_images
        text = "services:\\n" + "".join(f'  s{i}:\\n    image: "im\\\\x67{i}:1"\\n' for i in range(20_000))
        assert len(scan_compose_images("compose.yml", text).uses) == 20_000
    """)
    assert seconds < DEADLINE
