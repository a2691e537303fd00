"""Source texts of the cases for options declared as fields (PD102) and Hydra config trees (PD104): small
repositories written for the cases, nothing copied."""

from __future__ import annotations

from ..finding import Case

# Options declared as fields: a dataclass parsed from the command line, a pydantic settings class.
_RUN_ARGS = ("from dataclasses import dataclass, field\n\n\n@dataclass\nclass RunArgs:\n    data_dir: str = 'data'\n"
             "    warmup_steps: int = 0\n    seed: int = field(default=1)\n")  # data_dir, warmup_steps, seed: lines 6-8
_HF = "from transformers import HfArgumentParser\n\n"
_HF_PARSE = "parser = HfArgumentParser(RunArgs)\n(args,) = parser.parse_args_into_dataclasses()\n"
_SETTINGS_CLASS = ("from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n"
                   "    bucket: str = 'b'\n    region: str = 'r'\n")  # region on line 6

FIELD_CASES = (
    Case("invalid-hf-dataclass-field-nothing-reads",
         {"args.py": _RUN_ARGS, "train.py": _HF + "from args import RunArgs\n\n" + _HF_PARSE +
          "print(args.data_dir, getattr(args, 'seed'))\n"},
         (("PD102", "args.py", 7),)),
    Case("invalid-one-of-several-dataclasses-the-other-handed-to-a-trainer",
         {"train.py": _HF + _RUN_ARGS + "\n\n@dataclass\nclass ModelArgs:\n    width: int = 8\n\n\n"
                            "def main():\n    parser = HfArgumentParser((RunArgs, ModelArgs))\n"
                            "    run_args, model_args = parser.parse_json_file('run.json')\n"
                            "    fit(run_args)\n    Trainer(args=model_args)\n\n\n"
                            "def fit(run):\n    return run.data_dir, run.seed\n"},
         (("PD102", "train.py", 9),)),
    Case("invalid-tyro-and-simple-parsing",
         {"t.py": "import tyro\n\n" + _RUN_ARGS + "\n\nconf = tyro.cli(RunArgs)\nprint(conf.data_dir, conf.seed)\n",
          "s.py": "from simple_parsing import parse\n\n" + _RUN_ARGS +
                  "\n\nconf = parse(RunArgs)\nprint(conf.warmup_steps, conf.seed)\n"},
         (("PD102", "t.py", 9), ("PD102", "s.py", 8))),
    Case("invalid-jsonargparse-cli",
         {"j.py": "from jsonargparse import CLI\n\n" + _RUN_ARGS + "\n\nconf = CLI(RunArgs)\n"
                  "print(conf.warmup_steps, conf.data_dir)\n"},
         (("PD102", "j.py", 10),)),
    Case("invalid-pydantic-settings-field",
         {"conf.py": _SETTINGS_CLASS + "\n\nsettings = Settings()\n",
          "app.py": "from conf import settings\n\n\ndef upload(blob):\n    return settings.bucket, blob\n"},
         (("PD102", "conf.py", 6),)),
    Case("valid-asdict-vars-replace-read-every-field",
         {"a.py": "import dataclasses\n\nimport tyro\n\n" + _RUN_ARGS + "\n\nc = tyro.cli(RunArgs)\n"
                  "log(dataclasses.asdict(c))\n",
          "b.py": "import tyro\n\n" + _RUN_ARGS + "\n\nc = tyro.cli(RunArgs)\nprint(vars(c))\n",
          "c.py": "from dataclasses import replace\n\nimport tyro\n\n" + _RUN_ARGS +
                  "\n\nc = tyro.cli(RunArgs)\nd = replace(c, seed=2)\n"}),
    Case("valid-handed-whole-to-a-library-trainer",
         {"train.py": _HF + "from trl import SFTTrainer\n\n" + _RUN_ARGS + "\n\n" + _HF_PARSE +
                      "SFTTrainer(args=args).train()\n"}),
    Case("valid-base-class-outside-the-repository",
         {"train.py": "from transformers import HfArgumentParser, TrainingArguments\n\n" +
                      _RUN_ARGS.replace("class RunArgs:", "class RunArgs(TrainingArguments):") +
                      "\n\n" + _HF_PARSE + "print(args.data_dir)\n"}),
    Case("valid-computed-getattr-and-post-init",
         {"a.py": _HF + _RUN_ARGS + "\n    def __post_init__(self):\n        self.warmup_steps = max(0, "
                  "self.warmup_steps)\n\n\n" + _HF_PARSE + "for name in NAMES:\n    print(getattr(args, name))\n"}),
    Case("valid-parse-result-kept-whole",
         {"a.py": _HF + _RUN_ARGS + "\n\n@dataclass\nclass More:\n    depth: int = 1\n\n\n"
                  "parser = HfArgumentParser((RunArgs, More))\nboth = parser.parse_args_into_dataclasses()\n"
                  "print(both[0].data_dir)\n"}),
    Case("valid-subclassed-in-the-repository",
         {"a.py": "import tyro\n\n" + _RUN_ARGS + "\n\n@dataclass\nclass LongRun(RunArgs):\n"
                  "    epochs: int = 9\n\n\nc = tyro.cli(RunArgs)\nprint(c.data_dir, c.seed)\n"}),
    Case("valid-settings-dumped-or-handed-on",
         {"conf.py": _SETTINGS_CLASS + "\n\nsettings = Settings()\nprint(settings.model_dump())\n",
          "api.py": "from fastapi import Depends\n\nfrom conf2 import Settings\n\n\n"
                    "def route(s=Depends(Settings)):\n    return s.bucket\n",
          "conf2.py": _SETTINGS_CLASS}),
    Case("valid-settings-reached-through-the-module",
         {"conf.py": _SETTINGS_CLASS + "\n\nsettings = Settings()\n",
          "app.py": "import conf\n\nupload(conf.settings)\nprint(conf.settings.bucket)\n"}),
)


# A Hydra project: the root config, a model group instantiated whole, a train node followed into a function.
_HYDRA_ROOT = ("defaults:\n  - model: small\n  - _self_\n\nseed: 1\ndebug_level: 2\ntrain:\n  epochs: 3\n"
               "  warmup: 10\n  stages:\n    first: 1\n")  # debug_level line 6, train.warmup line 9
_HYDRA_MODEL = "_target_: nets.Small\nwidth: 8\ndepth: 2\n"
_HYDRA_MAIN = ("import hydra\nfrom hydra.utils import instantiate\n\nfrom tools import set_seed\n\n\n"
               "def fit(net, train_cfg):\n    stages = train_cfg.stages\n"
               "    return net, train_cfg['epochs'], stages\n\n\n"
               "@hydra.main(config_path='conf', config_name='config', version_base=None)\ndef main(cfg):\n"
               "    set_seed(cfg.seed)\n    net = instantiate(cfg.model)\n    fit(net, cfg.train)\n")


def _hydra(root: str = _HYDRA_ROOT, main: str = _HYDRA_MAIN, **more: str) -> dict[str, str]:
    return {"conf/config.yaml": root, "conf/model/small.yaml": _HYDRA_MODEL, "run.py": main, **more}


HYDRA_CASES = (
    Case("invalid-hydra-two-unread-keys-beside-an-instantiated-node", _hydra(),
         (("PD104", "conf/config.yaml", 6), ("PD104", "conf/config.yaml", 9))),
    Case("invalid-hydra-key-read-only-in-commented-out-code",
         _hydra(main=_HYDRA_MAIN + "    # print(cfg.debug_level, cfg.train.warmup)\n"),
         (("PD104", "conf/config.yaml", 6), ("PD104", "conf/config.yaml", 9))),
    Case("invalid-hydra-group-key-beside-a-target-read-by-name",
         _hydra(main=_HYDRA_MAIN.replace("instantiate(cfg.model)", "build(cfg.model._target_, cfg.model.width)")
                + "    print(cfg.debug_level, cfg.train.warmup)\n"),
         (("PD104", "conf/model/small.yaml", 3),)),
    Case("invalid-hydra-node-passed-to-a-module-that-is-not-analysed",
         _hydra(main=_HYDRA_MAIN.replace("    fit(net, cfg.train)\n", "    loop.fit(net, cfg.train)\n")
                .replace("import hydra\n", "import hydra\n\nimport loop\n"),
                **{"loop.py": "def fit(net, train_cfg):\n    return net, train_cfg.epochs\n"}),
         (("PD104", "conf/config.yaml", 6),)),
    Case("valid-hydra-get-and-interpolation",
         _hydra(main=_HYDRA_MAIN + "    print(cfg.get('debug_level'))\n",
                **{"conf/model/small.yaml": _HYDRA_MODEL + "warm: ${train.warmup}\n"})),
    Case("valid-hydra-select-and-alias",
         _hydra(main=_HYDRA_MAIN + "    from omegaconf import OmegaConf\n    t = cfg.train\n"
                                   "    print(OmegaConf.select(cfg, 'debug_level'), t.warmup)\n")),
    Case("valid-hydra-root-handed-to-outside-code",
         _hydra(main=_HYDRA_MAIN + "    log_everything(cfg)\n")),
    Case("valid-hydra-node-escapes-by-computed-key-expansion-or-container",
         _hydra(root=_HYDRA_ROOT + "extra:\n  a: 1\nmore:\n  b: 2\n",
                main=_HYDRA_MAIN + "    from omegaconf import OmegaConf\n    key = 'debug_level'\n"
                                   "    print(cfg.get(key), cfg.train[key])\n    run(**cfg.extra)\n"
                                   "    OmegaConf.to_container(cfg.more)\n")),
    Case("valid-hydra-configs-also-composed-elsewhere",
         _hydra(**{"tools/export.py": "from hydra import compose, initialize\n\n"
                                      "with initialize(config_path='../conf'):\n"
                                      "    print(compose(config_name='config'))\n"})),
    Case("valid-hydra-group-remounted-by-defaults",
         _hydra(root=_HYDRA_ROOT.replace("  - model: small\n", "  - model@encoder: small\n"))),
)
