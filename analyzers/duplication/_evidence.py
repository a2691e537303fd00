"""What a statement does to data: feature logic (input data -> model inputs, outputs -> predictions) or plumbing.

Feature logic is told by what the code does (column and array transforms, imputation, encoding, scaling,
tokenisation, image/text preprocessing, feature dicts, label decoding, score post-processing), never by "calls
numpy or torch somewhere". Training and evaluation loops, optimizer/scheduler/device/precision set-up, losses,
metrics, plotting, logging and callbacks, argument parsing and model loading are plumbing: a statement holding
any of them is never evidence, and a region where they weigh as much as the feature steps is not a copy of
feature logic.
"""

from __future__ import annotations

import re

# Libraries whose calls transform data; their local aliases come from the file's imports.
DATA_LIBRARIES = frozenset({"pandas", "numpy", "polars", "sklearn", "scipy", "tokenizers", "torchvision", "cv2",
                            "PIL", "pyspark", "albumentations", "librosa", "torchaudio", "nltk", "tiktoken"})

_PLUMBING = re.compile(
    # training and evaluation loops
    r"\.backward\(|\.zero_grad\(|\boptim\w*\.step\(|\bscheduler\w*\.step\(|clip_grad|\bscaler\.(?:scale|step|update)\b"
    r"|\.train\(\s*\)|\.eval\(\s*\)|no_grad|inference_mode|autocast|GradScaler|\bepochs?\b|\bglobal_step\b"
    r"|\w*KFold\(|\bfolds?\b|cross_val\w*|\bbatch_size\b"
    # losses and metrics
    r"|\w*loss\w*|\bcriterion\b|\w*_score\(|\b(?:spearmanr|pearsonr|kendalltau|corrcoef)\(|mean_squared_error|mean_absolute_error|confusion_matrix"
    r"|classification_report|\.describe\(|\bmetrics?\.|evaluate\.load|\bcorrect\b|\baccuracy\b|\bauc\b"
    # optimizer, scheduler, device, precision, distributed set-up
    r"|\boptim\w*\b|\bAdam\w*\(|\bSGD\(|lr_scheduler|\w*schedule\w*\(|\blearning_rate\b|\blr\b"
    r"|\bdevice\b|\.cuda\(|\bcuda\b|manual_seed|\bseed\b|set_float32_matmul_precision|allow_tf32|\bamp\b"
    r"|os\.environ|init_process_group|DistributedDataParallel|\bDDP\(|\bdist\.\w+\(|init_device_mesh|world_size"
    r"|local_rank|\.compile\("
    # plotting
    r"|\bplt\.|\bsns\.|\bfig\w*\b|\bax\w*\.\w+\(|\.savefig|\.imshow\(|\.plot\(|\bpx\.|plotly|subplots?"
    r"|\.show\("
    # logging and callbacks
    r"|\bwandb\.|\bmlflow\.|tensorboard|SummaryWriter|\bwriter\.add_|\blog_\w+\(|\.log\(|\blogger\b|\blogging\."
    r"|\bprint\(|tqdm|\blive\.|\bcallbacks?\b|Callback"
    # argument parsing and configuration
    r"|add_argument|ArgumentParser|HfArgumentParser|TrlParser|parse_args|parse_known_args|\w*Config\(|\w*Arguments\("
    # checkpoints and model loading
    r"|from_pretrained|load_state_dict|state_dict|torch\.load|torch\.save|save_pretrained|push_to_hub"
    r"|\bcheckpoint\w*|joblib\.(?:load|dump)|pickle\.(?:load|dump)|\w*load_model\(|save_model|\w*_weights\("
    # model construction and training calls, hyper-parameter search
    r"|\w*Trainer\(|\btrainer\.|\.fit\(|\.train\(|\btrial\.|\boptuna\.|\bstudy\b|\bnn\.\w+\(|Sequential\("
    r"|\bDense\(|\bConv\w*\(|\bmodel\s*=\s*\w")
# Steps that turn input data into model inputs, or model outputs into predictions, whoever the receiver is.
_FEATURE = re.compile(
    r"\.(?:fillna|astype|get_dummies|groupby|pivot_table|melt|dropna|drop_duplicates|fit_transform|"
    r"inverse_transform|to_datetime|to_numeric|value_counts|isna|isnull|notna|iloc|loc|"
    r"with_columns|select_dtypes|qcut|encode_plus|batch_encode_plus|pad_sequences|apply_chat_template|"
    r"encode_ordinary|unsqueeze|permute|argmax|softmax|sigmoid)\b"
    r"|\btokeni[sz]er\w*\s*(?:\(|\.(?:encode|decode|batch_decode|__call__))"
    r"|\b(?:transforms|T|A)\.[A-Z]\w*\(|\bcv2\.(?:resize|cvtColor|imdecode|normalize|GaussianBlur)\b"
    r"|\bImage\.(?:open|fromarray)\b|\.convert\(\s*['\"]RGB|/=?\s*255(?:\.0*)?\b"
    r"|\b(?:LabelEncoder|OneHotEncoder|OrdinalEncoder|StandardScaler|MinMaxScaler|RobustScaler|SimpleImputer|"
    r"CountVectorizer|TfidfVectorizer|PolynomialFeatures|train_test_split)\b"
    r"|\bfeatures?\b|\bfeature_\w+"
    # a lookup table applied over a sequence (character/word tokenisers) and the table built from a vocabulary
    r"|\[\s*\w+\[\s*\w+\s*\]\s+for\s+\w+\s+in\b|\{\s*\w+\s*:\s*\w+\s+for\s+\w+\s*,\s*\w+\s+in\s+enumerate\("
    # a fractional train/validation split of the data
    r"|\[\s*:?\s*int\(\s*[\w.()]+\s*\*\s*0?\.\d+\s*\)\s*:?\s*\]")
# Methods that are feature logic only in a file that imports a data library (`str.replace` is not).
_WEAK = re.compile(
    r"\.(?:merge|agg|aggregate|pivot|clip|log1p|expm1|one_hot|rolling|resample|cumsum|quantile|replace|"
    r"str\.\w+|dt\.\w+|cut|interpolate|bfill|ffill|standardize|normalize|tokenize|apply|map|transform|"
    r"reshape|transpose|mean|std|resize|expand_dims|stack|concatenate|where|round)\s*\(")
# Arithmetic over named columns: df["a"] / df["b"].
_COLUMN_ARITHMETIC = re.compile(
    r"\w\[\s*[rbuf]?['\"][^'\"]+['\"]\s*\]\s*(?:[-+*/%]|\*\*)(?!=)|(?:[-+*/%]|\*\*)\s*\w+\[\s*[rbuf]?['\"][^'\"]+['\"]\s*\]")
# A field of one record copied or derived into another: features["a"] = ride["a"].
_FIELD_MAPPING = re.compile(r"^\w+\[\s*['\"][^'\"]+['\"]\s*\]\s*=[^=].*\w\[\s*['\"][^'\"]+['\"]\s*\]")
_SELF_ASSIGNMENT = re.compile(r"^self\.\w+(?:\s*,\s*self\.\w+)*\s*(?::[^=]+)?=[^=]")
_BOILERPLATE = re.compile(r"\b(?:add_argument_group|add_parser|basicConfig|getLogger|setLevel|addHandler|"
                          r"setFormatter|Column|mapped_column|relationship|field)\s*\(")
# A one-expression function that is a tokeniser: a lookup over its argument, or an encode/decode/join of it.
TOKENIZER_EXPRESSION = re.compile(
    r"\[\s*\w+\[\s*\w+\s*\]\s+for\s+\w+\s+in\b|\.(?:encode|decode|encode_ordinary|tokenize|convert_tokens_to_ids)\(")

# Functions and classes that are plumbing by what they are: losses, metrics, plots, callbacks, model layers.
_PLUMBING_NAME = re.compile(
    r"(?i)loss|metric|criterion|plot|draw|visuali[sz]e|callback|logger|parse_args|get_args|set_?seed|optimi[sz]er|"
    r"scheduler|^forward$|^on_\w+|_step$|^configure_|^setup$|^seed|^validat|^evaluat|^eval_|_eval$|^benchmark")
_PLUMBING_BASES = re.compile(r"\b(?:Module|LightningModule|Callback|TrainerCallback|Metric|_Loss|\w*Loss|Layer)\b")


# Statements whose result is a report: summary statistics, metrics, correlations, plots. What is computed from
# such a result (renaming its columns, resetting its index) is the report's formatting, not feature logic.
_REPORT = re.compile(
    r"\.describe\(|\b(?:spearmanr|pearsonr|kendalltau|corrcoef)\(|\.corr\(|\w+_score\(|mean_squared_error\("
    r"|mean_absolute_error\(|confusion_matrix\(|classification_report\(|\bplt\.|\bsns\.|\.plot\(")


def is_report(code: str) -> bool:
    """A statement that computes a summary, metric, correlation or plot: its result is read, not fed to a model."""
    return bool(_REPORT.search(code))


def is_plumbing(code: str) -> bool:
    """A statement that belongs to training, evaluation, set-up, plotting, logging or model loading."""
    return bool(_PLUMBING.search(code) or _BOILERPLATE.search(code))


def is_feature(code: str, data_aliases: re.Pattern[str] | None) -> bool:
    """A statement that transforms data into model inputs or model outputs into predictions."""
    if _SELF_ASSIGNMENT.match(code) or is_plumbing(code):
        return False
    if _FEATURE.search(code):
        return True
    return data_aliases is not None and bool(data_aliases.search(code) or _WEAK.search(code)
                                             or _FIELD_MAPPING.match(code) or _COLUMN_ARITHMETIC.search(code))


def mentions_feature(source: str) -> bool:
    """True when a file holds anything a feature statement needs: files without it have no candidate block."""
    return bool(_FEATURE.search(source) or TOKENIZER_EXPRESSION.search(source))


def data_alias_pattern(aliases: dict[str, str]) -> re.Pattern[str] | None:
    """Calls through a data library's alias (``np.clip(``, ``pd.get_dummies(``), read and write calls left out."""
    names = sorted(local for local, module in aliases.items() if module.split(".")[0] in DATA_LIBRARIES)
    if not names:
        return None
    return re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, names)) + r")\.(?!(?:read_|to_|save|load|random"
                      r"|testing|errors|__version__|set_|seed|show|figure))\w")


def plumbing_definition(name: str, bases: str) -> bool:
    """A function or class that is a loss, metric, plot, callback or model layer by its name or base classes."""
    return bool(_PLUMBING_NAME.search(name) or (bases and _PLUMBING_BASES.search(bases)))
