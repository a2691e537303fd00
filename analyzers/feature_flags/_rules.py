"""The feature-flag rules as data: each rule's documentation and the cases that pin what it finds."""

from __future__ import annotations

import json

from ..finding import Case, Kind, Rule
from ._cases import FIELD_CASES, HYDRA_CASES


def _notebook(*cells: tuple[str, str]) -> str:
    """A notebook's JSON text with these (cell type, source) cells."""
    return json.dumps({"cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                                  **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                                 for kind, source in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


_SETTINGS = "USE_NEW_TOKENIZER = False\nBATCH = 32\n"
_TRAIN = ("from pkg import settings\n\n\ndef tokenize(text):\n    if settings.USE_NEW_TOKENIZER:\n"
          "        return text.split()\n    return list(text)\n")

DEAD_CONFIG_SWITCH = Rule(
    id="PD101",
    name="dead-config-switch",
    kind=Kind.DEAD_FLAG,
    summary="A module- or class-level name bound once to a literal (bool, None, number, string) that decides an "
            "`if`, `elif`, ternary, `while` or `and`/`or` test, where nothing can rebind it: no other assignment, "
            "`global` or setattr outside tests, no exec, `globals()`/`vars()`/`__dict__` write or reload of its "
            "namespace, no star import after it, no template placeholder, no notebook text telling its reader to "
            "set it. One of the branches can never run. The finding says how long the line has been unchanged in "
            "git, and calls the switch stale from `stale_days` on (PD103, merged into this rule).",
    why="Sculley et al. (\"Hidden Technical Debt in Machine Learning Systems\", section on dead experimental "
        "codepaths) describe how branches left behind by experiments pile up until nobody knows which "
        "combinations still work; Knight Capital lost $465M when a repurposed flag woke such a path.",
    example="# pkg/settings.py\nUSE_NEW_TOKENIZER = False\n\n# pkg/train.py\nif settings.USE_NEW_TOKENIZER:\n"
            "    tokens = new_tokenizer(text)  # never runs",
    fix="Delete the flag and the branch that cannot run, keeping the one that does; if it must stay switchable, "
        "read it from configuration, the environment or the command line.",
    cases=(
        Case("invalid-cross-module-attribute", {"pkg/__init__.py": "", "pkg/settings.py": _SETTINGS,
                                                "pkg/train.py": _TRAIN}, (("PD101", "pkg/settings.py", 1),)),
        Case("invalid-from-import-and-alias",
             {"pkg/__init__.py": "from .settings import DEBUG\n", "pkg/settings.py": "DEBUG = False\n",
              "pkg/a.py": "from pkg.settings import DEBUG\nx = 1 if DEBUG else 2\n",
              "pkg/b.py": "import pkg.settings as s\nimport pkg\n\nif not s.DEBUG and True:\n    pass\n"
                          "if pkg.DEBUG:\n    print(1)\n"},
             (("PD101", "pkg/settings.py", 1),)),
        Case("invalid-string-mode-same-module",
             {"run.py": 'MODE = "train"\n\n\ndef main():\n    if MODE == "eval":\n        evaluate()\n'},
             (("PD101", "run.py", 1),)),
        Case("invalid-class-settings",
             {"conf.py": "class Settings:\n    USE_AMP = False\n\n\nif Settings.USE_AMP:\n    print('amp')\n"},
             (("PD101", "conf.py", 2),)),
        Case("invalid-pinned-only-by-a-test",
             {"pkg/__init__.py": "", "pkg/settings.py": _SETTINGS, "pkg/train.py": _TRAIN,
              "tests/test_train.py": "from pkg import settings\n\n\ndef test_new(monkeypatch):\n"
                                     "    monkeypatch.setattr(settings, 'USE_NEW_TOKENIZER', True)\n"
                                     "    settings.USE_NEW_TOKENIZER = True\n"},
             (("PD101", "pkg/settings.py", 1),)),
        Case("valid-rebound-by-assignment",
             {"pkg/__init__.py": "", "pkg/settings.py": _SETTINGS, "pkg/train.py": _TRAIN,
              "pkg/cli.py": "from pkg import settings\n\nsettings.USE_NEW_TOKENIZER = True\n"}),
        Case("valid-global-rebinding",
             {"a.py": "DEBUG = False\n\n\ndef enable():\n    global DEBUG\n    DEBUG = True\n\n\n"
                      "if DEBUG:\n    print(1)\n"}),
        Case("valid-from-environment",
             {"a.py": "import os\n\nDEBUG = os.environ.get('DEBUG') == '1'\nFAST = bool(int('0'))\n"
                      "if DEBUG or FAST:\n    print(1)\n"}),
        Case("valid-type-checking-and-debug",
             {"a.py": "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import os\nif __debug__:\n    print(1)\n"}),
        Case("valid-only-in-log-format",
             {"a.py": "import logging\n\nDEBUG = False\nlogging.info('debug=%s', DEBUG)\n"}),
        Case("valid-shadowed-by-parameter",
             {"a.py": "DEBUG = False\n\n\ndef run(DEBUG=True):\n    if DEBUG:\n        print(1)\n"}),
        Case("valid-colab-form-fields",
             {"train.py": 'EPOCHS = 3  #@param {type:"integer"}\nUSE_AMP = False # @param {type:"boolean"}\n'
                          '#@markdown Pick the options above.\n\nif USE_AMP:\n    print("amp")\n'
                          'while EPOCHS > 10:\n    EPOCHS_SEEN = 1\n'}),
        Case("invalid-param-only-inside-a-string",
             {"train.py": 'NOTE = "#@param"\nif NOTE == "x":\n    print(NOTE)\n'},
             (("PD101", "train.py", 1),)),
        Case("valid-try-import-fallback",
             {"a.py": "try:\n    from fast import HAVE_FAST\nexcept ImportError:\n    HAVE_FAST = False\n"
                      "if HAVE_FAST:\n    print(1)\n"}),
        Case("valid-always-true-guard-without-else",
             {"prep.py": "BALANCE = True  # take at most the mean count per class\n\n\ndef prep(rows):\n"
                         "    if BALANCE:\n        rows = rows[:10]\n    return rows\n"}),
        # Run-time rebinding: any of these means the module's (or class's) names are settings, not constants.
        Case("valid-configurator-exec-with-config-files",
             {"run.py": "resume = False\nuse_cpu = False\nexec(open('overrides.py').read())\n"
                        "if resume:\n    print('resuming')\ndevice = 'cpu' if use_cpu else 'gpu'\n",
              "overrides.py": "import sys\n\nfor item in sys.argv[1:]:\n    if item.endswith('.py'):\n"
                              "        exec(open(item).read())\n    else:\n"
                              "        name, text = item[2:].split('=')\n        globals()[name] = text\n",
              "config/small.py": "resume = True\nuse_cpu = True\n"}),
        Case("valid-globals-update-from-json",
             {"job.py": "import json\n\nSHUFFLE = False\nglobals().update(json.load(open('job.json')))\n"
                        "if SHUFFLE:\n    print(1)\n"}),
        Case("valid-environment-override-loop",
             {"job.py": "import os\n\nSHUFFLE = False\nfor key, text in os.environ.items():\n"
                        "    if key in globals():\n        globals()[key] = text\nif SHUFFLE:\n    print(1)\n"}),
        Case("valid-argparse-copied-into-module-vars",
             {"job.py": "import argparse\n\nSHUFFLE = False\np = argparse.ArgumentParser()\n"
                        "p.add_argument('--SHUFFLE')\nns = p.parse_args()\nvars().update(vars(ns))\n"
                        "if SHUFFLE:\n    print(ns.SHUFFLE)\n"}),
        Case("valid-namespace-alias-written",
             {"job.py": "import sys\n\nSHUFFLE = False\nspace = globals()\nfor arg in sys.argv[1:]:\n"
                        "    k, v = arg.split('=')\n    space[k] = v\nif SHUFFLE:\n    print(1)\n"}),
        Case("valid-setattr-on-imported-module",
             {"knobs.py": "WARMUP = False\n", "cli.py": "import sys\n\nimport knobs\n\n"
                                                        "for arg in sys.argv[1:]:\n    k, v = arg.split('=')\n"
                                                        "    setattr(knobs, k, v)\n",
              "fit.py": "import knobs\n\nif knobs.WARMUP:\n    print(1)\n"}),
        Case("valid-own-module-through-sys-modules",
             {"job.py": "import sys\n\nSHUFFLE = False\n\n\ndef override(pairs):\n    for k, v in pairs:\n"
                        "        setattr(sys.modules[__name__], k, v)\n\n\nif SHUFFLE:\n    print(1)\n"}),
        Case("valid-module-dict-update",
             {"knobs.py": "WARMUP = False\n", "cli.py": "import json\n\nimport knobs\n\n"
                                                        "knobs.__dict__.update(json.load(open('k.json')))\n",
              "fit.py": "import knobs\n\nif knobs.WARMUP:\n    print(1)\n"}),
        Case("valid-class-filled-by-classmethod",
             {"conf.py": "class Conf:\n    WARMUP = False\n\n    @classmethod\n    def load(cls, pairs):\n"
                         "        for k, v in pairs.items():\n            setattr(cls, k, v)\n\n\n"
                         "if Conf.WARMUP:\n    print(1)\n"}),
        Case("valid-reloaded-module",
             {"knobs.py": "WARMUP = False\n", "fit.py": "import importlib\n\nimport knobs\n\n"
                                                         "importlib.reload(knobs)\nif knobs.WARMUP:\n    print(1)\n"}),
        Case("valid-exec-into-globals-in-function",
             {"job.py": "SHUFFLE = False\n\n\ndef load(path):\n    exec(open(path).read(), globals())\n\n\n"
                        "if SHUFFLE:\n    print(1)\n"}),
        Case("valid-later-star-import",
             {"job.py": "SHUFFLE = False\nfrom local_settings import *\n\nif SHUFFLE:\n    print(1)\n"}),
        Case("valid-template-placeholder",
             {"hooks/post_gen.py": "use_docker = '{{ cookiecutter.use_docker }}'\nif use_docker == 'yes':\n"
                                   "    print(1)\n"}),
        Case("valid-notebook-knob-named-in-markdown",
             {"demo.ipynb": _notebook(("code", "FULL_RUN = False\n"),
                                      ("markdown", "Set `FULL_RUN` to True to train on everything.\n"),
                                      ("code", "if FULL_RUN:\n    print('all')\n"))}),
        Case("valid-notebook-knob-with-a-comment",
             {"demo.ipynb": _notebook(("code", "FULL_RUN = False  # True trains on everything\n"
                                               "if FULL_RUN:\n    print('all')\n"))}),
        Case("invalid-notebook-flag-nobody-is-told-about",
             {"demo.ipynb": _notebook(("markdown", "# Training\n\nFULL_RUNS is another word.\n"),
                                      ("code", "x = '# not a comment'\nFULL_RUN = False\n"),
                                      ("code", "if FULL_RUN:\n    print('all')\n"))},
             (("PD101", "demo.ipynb", 2),)),
        Case("invalid-exec-into-its-own-dict",
             {"job.py": "SHUFFLE = False\nsettings = {}\nexec(open('s.py').read(), settings)\n"
                        "if SHUFFLE:\n    print(settings)\n"},
             (("PD101", "job.py", 1),)),
        Case("invalid-another-module-is-the-one-written",
             {"knobs.py": "WARMUP = False\n", "flags.py": "EARLY_STOP = False\n",
              "cli.py": "import sys\n\nimport knobs\n\nfor arg in sys.argv[1:]:\n    k, v = arg.split('=')\n"
                        "    setattr(knobs, k, v)\n",
              "fit.py": "import flags\nimport knobs\n\nif knobs.WARMUP:\n    print(1)\n"
                        "if flags.EARLY_STOP:\n    print(2)\n"},
             (("PD101", "flags.py", 1),)),
        Case("invalid-function-locals-written",
             {"job.py": "SHUFFLE = False\n\n\ndef f(pairs):\n    for k, v in pairs:\n        locals()[k] = v\n"
                        "    vars().update(pairs)\n\n\nif SHUFFLE:\n    print(1)\n"},
             (("PD101", "job.py", 1),)),
        Case("invalid-star-import-before-the-name",
             {"job.py": "from local_settings import *\n\nSHUFFLE = False\nif SHUFFLE:\n    print(1)\n"},
             (("PD101", "job.py", 3),)),
    ),
)

UNREAD_OPTION = Rule(
    id="PD102",
    name="unread-command-line-option",
    kind=Kind.DEAD_FLAG,
    summary="An argparse option (any spelling of its dest: `--chunk-size` -> `chunk_size`, `dest=`, positional) "
            "or a click/typer parameter that no code ever reads; when the parsed namespace escapes where it "
            "cannot be followed (`vars(args)` passed whole, `getattr(args, name)` with a computed name, handed "
            "to a library), nothing is reported. Options declared as fields count too: a field of a dataclass "
            "parsed by `HfArgumentParser`/`TrlParser` (`parse_args_into_dataclasses`, `parse_json_file`, "
            "`parse_yaml_file`, `parse_dict`), `tyro.cli`, `simple_parsing.parse` or `jsonargparse.CLI`, and a "
            "field of a pydantic `BaseSettings` class (set from the environment), when every parsed instance is "
            "followed, none is dumped whole (`asdict`, `vars`, `replace`, `model_dump`) or handed to outside code, "
            "and the class has no base outside the repository (a library base reads the fields it declares) and "
            "no subclass.",
    why="Sculley et al. list configuration debt among the costliest in ML systems: an option that is accepted "
        "and ignored lets scripts and people believe they changed an experiment when they did not.",
    example="parser.add_argument('--use-new-tokenizer', action='store_true')\nargs = parser.parse_args()\n"
            "train(args.lr)  # args.use_new_tokenizer is never read",
    fix="Remove the option (and the places that pass it), or wire it to the code it was meant to control.",
    cases=(
        Case("invalid-unread-option",
             {"train.py": "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr')\n"
                          "parser.add_argument('--chunk-size', type=int)\nargs = parser.parse_args()\n"
                          "print(args.lr)\n"},
             (("PD102", "train.py", 5),)),
        Case("invalid-positional-and-dest",
             {"cli.py": "import argparse\n\n\ndef main():\n    p = argparse.ArgumentParser()\n"
                        "    p.add_argument('data')\n    p.add_argument('-o', '--out', dest='target')\n"
                        "    g = p.add_argument_group('x')\n    g.add_argument('-v', action='store_const', const=1)\n"
                        "    args = p.parse_args()\n    print(args.out)\n"},
             (("PD102", "cli.py", 6), ("PD102", "cli.py", 7), ("PD102", "cli.py", 9))),
        Case("invalid-passed-by-script",
             {"train.py": "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--seed')\n"
                          "args = parser.parse_args()\n",
              "run.sh": "python train.py --seed 1\n"},
             (("PD102", "train.py", 4),)),
        Case("invalid-click-and-typer",
             {"c.py": "import click\n\n\n@click.command()\n@click.option('--dry-run', is_flag=True)\n"
                      "@click.option('-n', '--num', 'count')\ndef main(dry_run, count):\n    print(count)\n",
              "t.py": "import typer\n\napp = typer.Typer()\n\n\n@app.command()\n"
                      "def main(name: str, force: bool = typer.Option(False, '--force')):\n    print(name)\n"},
             (("PD102", "c.py", 5), ("PD102", "t.py", 7))),
        Case("invalid-read-only-by-an-unrelated-script",
             {"gan/train.py": "import argparse\n\np = argparse.ArgumentParser()\np.add_argument('--lr')\n"
                              "p.add_argument('--seed')\nargs = p.parse_args()\nprint(args.lr)\n",
              "vae/train.py": "import argparse\n\np = argparse.ArgumentParser()\np.add_argument('--seed')\n"
                              "args = p.parse_args()\nprint(args.seed)\n"},
             (("PD102", "gan/train.py", 5),)),
        Case("valid-stored-for-a-process-and-read-in-an-imported-module",
             {"gan/main.py": "import argparse\nimport multiprocessing as mp\n\nfrom worker import run\n\n"
                             "p = argparse.ArgumentParser()\np.add_argument('--seed')\nargs = p.parse_args()\n"
                             "proc = mp.Process(target=run, args=(0, args))\n",
              "gan/worker.py": "def run(rank, args):\n    print(rank + args.seed)\n",
              "vae/worker.py": "def run(rank):\n    print(rank)\n"}),
        Case("invalid-passed-to-a-helper-in-the-scripts-own-folder",
             {"gan/main.py": "import argparse\n\nfrom helpers import fit\n\np = argparse.ArgumentParser()\n"
                             "p.add_argument('--lr')\np.add_argument('--batch')\nargs = p.parse_args()\nfit(args)\n",
              "gan/helpers.py": "def fit(args):\n    return args.lr\n",
              "vae/helpers.py": "def fit(ns):\n    return ns.batch\n"},
             (("PD102", "gan/main.py", 7),)),
        Case("invalid-factory-returning-known-args",
             {"fit.py": "import argparse\n\n\ndef parse():\n    p = argparse.ArgumentParser()\n"
                        "    p.add_argument('--out')\n    p.add_argument('--data')\n    return p.parse_known_args()\n"
                        "\n\nargs, rest = parse()\nprint(args.data)\n"},
             (("PD102", "fit.py", 6),)),
        Case("valid-launcher-option-read-from-the-environment",
             {"ddp.py": "import argparse\nimport os\n\np = argparse.ArgumentParser()\n"
                        "p.add_argument('--local_rank', type=int, default=0)\nargs = p.parse_args()\n"
                        "rank = int(os.environ['LOCAL_RANK'])\n"}),
        Case("invalid-launcher-option-nothing-reads",
             {"ddp.py": "import argparse\nimport os\n\np = argparse.ArgumentParser()\n"
                        "p.add_argument('--local_rank', type=int, default=0)\nargs = p.parse_args()\n"
                        "rank = int(os.environ.get('RANK', 0))\n"},
             (("PD102", "ddp.py", 5),)),
        Case("valid-getattr-literal-tuple",
             {"train.py": "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr')\n"
                          "parser.add_argument('--wd')\nargs = parser.parse_args()\n"
                          "for name in ('lr', 'wd'):\n    print(getattr(args, name))\n"}),
        Case("valid-getattr-unknown-name",
             {"train.py": "import argparse\nimport sys\n\nparser = argparse.ArgumentParser()\n"
                          "parser.add_argument('--lr')\nargs = parser.parse_args()\n"
                          "print(getattr(args, sys.argv[1]))\n"}),
        Case("valid-vars-literal-key",
             {"train.py": "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr')\n"
                          "args = parser.parse_args()\nprint(vars(args)['lr'])\n"}),
        Case("valid-vars-escapes",
             {"train.py": "import argparse\n\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr')\n"
                          "args = parser.parse_args()\nrun(**vars(args))\n"}),
        Case("valid-helper-in-other-module",
             {"pkg/__init__.py": "", "pkg/fit.py": "def fit(ns):\n    return ns.epochs\n",
              "pkg/main.py": "import argparse\n\nfrom pkg.fit import fit\n\n\ndef parse():\n"
                             "    parser = argparse.ArgumentParser()\n    parser.add_argument('--epochs')\n"
                             "    return parser.parse_args()\n\n\nfit(parse())\nargs = parse()\nfit(args)\n"}),
        Case("valid-handed-to-library",
             {"train.py": "import argparse\n\nimport lib\n\nparser = argparse.ArgumentParser()\n"
                          "parser.add_argument('--lr')\nargs = parser.parse_args()\nlib.run(args)\n"}),
        *FIELD_CASES,
    ),
)

STALE_FEATURE_FLAG = Rule(
    id="PD103",
    name="stale-feature-flag",
    kind=Kind.DEAD_FLAG,
    summary="Merged into PD101 (dead-config-switch); the id stays reserved and no finding carries it. A switch's "
            "age from git is now part of its one PD101 finding: the message says how long the switch has been dead, "
            "and from `stale_days` days (default 180) on it calls it stale and its interest rises with its age. "
            "Settings naming PD103 still apply to that age: `stale_days`, and `enabled = false` (or ignoring PD103) "
            "leaves git out.",
    why="Sculley et al.'s dead experimental codepaths become more dangerous the longer they sit: nobody "
        "remembers what the other branch does. Age alone proves nothing, though: a configurable setting untouched "
        "for years is a stable default, not a stale flag, so age is reported only on a switch proved dead.",
    example="# unchanged since 2021, and nothing can rebind it\nUSE_LEGACY_LOSS = False\n"
            "if USE_LEGACY_LOSS:\n    loss = legacy_loss(x)  # never runs: one PD101 finding that says '3 years'",
    fix="Follow the PD101 finding: delete the switch and its dead branch; the history keeps the old code.",
    options={"stale_days": 180},
    merged_into="PD101",
    cases=(
        Case("one-pd101-finding-for-an-old-dead-switch",
             {"a.py": "LEGACY = False\nif LEGACY:\n    print(1)\n"},
             (("PD101", "a.py", 1),)),
        Case("valid-old-configurable-switch-is-no-finding",
             {"a.py": "LEGACY = False\nexec(open('overrides.py').read())\nif LEGACY:\n    print(1)\n"}),
        Case("valid-not-a-switch", {"a.py": "LEGACY = False\nprint(LEGACY)\n"}),
    ),
)

_TRAIN_YAML = "model:\n  layers: 4\n  dropout: 0.1\ntrain:\n  lr: 0.01\n  epochs: 3\nseed: 1\n"
_LOAD = ("import yaml\n\n\ndef main():\n    with open('config.yaml') as f:\n        cfg = yaml.safe_load(f)\n")
_READ_ALL = ("    print(cfg['model']['layers'], cfg['model'].get('dropout'), cfg['train']['lr'])\n"
             "    print(cfg['train']['epochs'], cfg.get('seed'))\n")

UNREAD_CONFIG_KEY = Rule(
    id="PD104",
    name="unread-config-key",
    kind=Kind.DEAD_FLAG,
    summary="A key of a YAML, JSON or TOML config file that no code reads, where the file is provably loaded "
            "(`yaml.safe_load`, `json.load`, `tomllib.load` of a literal path) into a name whose every use is a "
            "literal subscript or `.get(\"key\")` chain. When the loaded value (or a sub-mapping of it) escapes "
            "(passed on, returned, iterated, `**cfg`, `cfg[name]`), the path is not literal, or the repository "
            "uses Hydra/OmegaConf, nothing is reported for that load. In a Hydra project, a key of the config "
            "directory of a `@hydra.main` (each file mounted where Hydra composes it) that the composed config, "
            "followed through the repository's functions, never reads (`cfg.a.b`, `cfg[\"a\"]`, `cfg.get(\"a\")`, "
            "`OmegaConf.select`, `${a.b}` interpolations); a node handed whole to outside code (`instantiate`, "
            "`to_container`, `**`, iteration, a computed key) counts as read with everything under it, and nothing "
            "is reported when the root escapes, a group is re-mounted (`group@pkg`) or configs are also composed or "
            "loaded another way.",
    why="Sculley et al. list configuration debt among the costliest in ML systems: a key that is set and "
        "ignored makes people believe they changed an experiment when they did not.",
    example="# config.yaml\ntrain:\n  lr: 0.01\n  warmup: 100  # never read\n\n# train.py\n"
            "cfg = yaml.safe_load(open('config.yaml'))\nopt = SGD(lr=cfg['train']['lr'])",
    fix="Delete the key from the config file, or wire it to the code it was meant to configure.",
    cases=(
        Case("invalid-unread-top-level-key",
             {"config.yaml": _TRAIN_YAML,
              "train.py": _LOAD + "    print(cfg['model']['layers'], cfg['model']['dropout'])\n"
                                  "    print(cfg['train']['lr'], cfg['train']['epochs'])\n"},
             (("PD104", "config.yaml", 7),)),
        Case("invalid-unread-nested-key",
             {"config.yaml": _TRAIN_YAML,
              "train.py": _LOAD + "    print(cfg['model']['layers'], cfg['train']['lr'], cfg['seed'])\n"
                                  "    print(cfg.get('train').get('epochs'))\n"},
             (("PD104", "config.yaml", 3),)),
        Case("invalid-json-config",
             {"conf/settings.json": '{\n  "batch": 8,\n  "unused": {"a": 1}\n}\n',
              "app.py": "import json\nfrom pathlib import Path\n\nsettings = json.loads("
                        "Path('conf/settings.json').read_text())\nprint(settings['batch'])\n"},
             (("PD104", "conf/settings.json", 3),)),
        Case("valid-every-key-read", {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + _READ_ALL}),
        Case("valid-passed-whole",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + _READ_ALL.replace("cfg.get('seed')", "") +
              "    run(cfg)\n"}),
        Case("valid-sub-mapping-passed",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    model = build(**cfg['model'])\n"}),
        Case("valid-double-star",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    run(**cfg)\n"}),
        Case("valid-items-loop",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    for k, v in cfg.items():\n        print(k, v)\n"}),
        Case("valid-variable-key",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    for name in ('model', 'train'):\n"
                                                              "        print(cfg[name])\n"}),
        Case("valid-hydra-repository",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    print(cfg['seed'])\n",
              "other.py": "from omegaconf import OmegaConf\n\nconf = OmegaConf.load('config.yaml')\n"}),
        Case("valid-path-not-literal",
             {"config.yaml": _TRAIN_YAML,
              "train.py": "import argparse\n\nimport yaml\n\nparser = argparse.ArgumentParser()\n"
                          "parser.add_argument('--config', default='config.yaml')\nargs = parser.parse_args()\n"
                          "with open(args.config) as f:\n    cfg = yaml.safe_load(f)\nprint(cfg['seed'])\n"}),
        Case("valid-generic-loader-elsewhere",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    print(cfg['seed'])\n",
              "tools.py": "from pathlib import Path\n\nimport yaml\n\nfor p in Path('.').glob('*.yaml'):\n"
                          "    with p.open() as f:\n        print(yaml.safe_load(f))\n"}),
        Case("valid-second-load-escapes",
             {"config.yaml": _TRAIN_YAML, "train.py": _LOAD + "    print(cfg['seed'])\n",
              "eval.py": "import yaml\n\n\ndef conf():\n    return yaml.safe_load(open('config.yaml'))\n"}),
        *HYDRA_CASES,
    ),
)

RULES: tuple[Rule, ...] = (DEAD_CONFIG_SWITCH, UNREAD_OPTION, STALE_FEATURE_FLAG, UNREAD_CONFIG_KEY)
