"""What a named source is: data, or not data (system files, services, secrets, UI assets, released models), and
why an input is unstable (another model's output, a moving alias or branch, SELECT *, no pinned revision)."""

from __future__ import annotations

from ._extract import Access

_NOT_DATA_SUFFIXES = frozenset({
    ".py", ".pyi", ".md", ".rst", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".lock", ".in", ".html", ".j2",
    ".jinja", ".sh", ".ipynb", ".log", ".css", ".js", ".env", ".tex", ".bib", ".svg", ".gitignore", ".typed",
})
_NOT_DATA_STEMS = ("readme", "license", "requirements", "version", "changelog", "manifest", "authors")
_SYSTEM_PREFIXES = ("/dev/", "/proc/", "/sys/", "/etc/")
_ALIAS_WORDS = frozenset({"latest", "newest", "current", "production", "staging", "champion"})
_PREDICTION_WORDS = frozenset({"predictions", "prediction", "preds", "scores"})
_SYSTEM_TABLES = ("pg_", "information_schema", "sqlite_", "sys.", "mysql.", "performance_schema")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "[::1]"})
_MEDIA_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".svg", ".ico", ".webp", ".mp4", ".mp3"})
_BRANCHES = frozenset({"main", "master", "head", "develop"})
# Credentials are configuration a person provisions, not data a model learns from.
_SECRET_WORDS = frozenset({"credentials", "credential", "secret", "secrets", "token", "apikey", "netrc", "kaggle",
                           "id_rsa", "passwd", "password", "passwords"})
_SECRET_HOLDERS = frozenset({"", ".json", ".pickle", ".pkl", ".txt", ".yaml", ".yml", ".toml", ".ini", ".cfg",
                             ".env", ".conf"})
_SECRET_SUFFIXES = frozenset({".pem", ".key", ".p12", ".pfx", ".crt", ".cer", ".jks", ".keystore"})
_FONT_SUFFIXES = frozenset({".ttf", ".otf", ".woff", ".woff2", ".eot", ".ttc", ".fon"})
_ASSET_FOLDERS = frozenset({"static", "assets", "asset", "fonts", "font", "icons", "icon", "templates", "ui",
                            "css", "js"})
# Instance metadata services answer "who am I" questions about the machine, not data.
_METADATA_HOSTS = frozenset({"169.254.169.254", "169.254.170.2", "metadata.google.internal", "metadata",
                             "fd00:ec2::254", "[fd00:ec2::254]", "100.100.100.200"})
_CODE_HOST_APIS = frozenset({"api.github.com", "api.bitbucket.org"})
_WEIGHT_WORDS = frozenset({"weights", "weight", "checkpoint", "checkpoints", "ckpt", "pretrained", "pretrain"})
_MODEL_FOLDERS = frozenset({"models", "checkpoints", "weights", "pretrained"})
_WEIGHT_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".h5", ".hdf5", ".onnx", ".safetensors", ".pb",
                              ".tflite", ".pkl", ".joblib", ".model", ".params", ".weights", ".npz", ".zip",
                              ".tar", ".gz", ".tgz"})


def words(text: str) -> set[str]:
    return set("".join(c.lower() if c.isalnum() else " " for c in text).split())


def _stem(uri: str) -> str:
    name = uri.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name.split(".", 1)[0]


def suffix(uri: str) -> str:
    name = uri.split("?", 1)[0].rsplit("/", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def _is_secret(name: str) -> bool:
    """A credentials file: `credentials.json`, `token.pickle`, `client_secret_x.json`, `kaggle.json`, `.netrc`,
    a key or certificate. A word alone (`tokens.npy`, `secret_sauce.csv`) is not enough: the holder must be a
    configuration format."""
    if suffix(name) in _SECRET_SUFFIXES or name in {".netrc", ".env", ".pgpass"}:
        return True
    if suffix(name) not in _SECRET_HOLDERS:
        return False
    parts = set(name.split(".", 1)[0].replace("-", "_").split("_"))
    return bool(parts & _SECRET_WORDS) or "client_secret" in name or "service_account" in name.replace("-", "_")


def _is_ui_asset(uri: str) -> bool:
    """Fonts anywhere; images and styles kept in a static/assets/fonts/icons folder."""
    ending = suffix(uri)
    if ending in _FONT_SUFFIXES:
        return True
    folders = {part.lower() for part in uri.split("/")[:-1]}
    return bool(folders & _ASSET_FOLDERS) and ending in _MEDIA_SUFFIXES | {".css", ".js", ".html"}


def _is_service_endpoint(uri: str) -> bool:
    """A local service, a cloud metadata server, a code-hosting release API (queried for pretrained weights:
    a model artifact the repository pins by release, not a data set), or a released model's files."""
    authority = uri.split("://", 1)[-1].split("/", 1)[0]
    host = authority.rsplit(":", 1)[0].lower() if not authority.startswith("[") else authority.lower()
    if host in _LOCAL_HOSTS or host in _METADATA_HOSTS:
        return True
    path = "/" + uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    if host in _CODE_HOST_APIS:
        return True  # repository metadata (trees, releases, pull requests), not data a model reads
    name = path.rsplit("/", 1)[-1].lower()
    if any(words(part) & _MODEL_FOLDERS for part in path.split("/")[:-1]):
        return True  # a file of a released model (`.../models/124M/encoder.json`): its tokenizer or weights
    if suffix(name) in _WEIGHT_SUFFIXES and words(name.rsplit(".", 1)[0]) & _WEIGHT_WORDS:
        return True  # a released checkpoint (`abba_weights.zip`, `resnet_pretrained.pth`): a model, not data
    return "/releases/download/" in path and suffix(uri) in _WEIGHT_SUFFIXES - {".zip", ".tar", ".gz", ".tgz"}


def not_data(uri: str, kind: str, family: str) -> bool:
    """System files and catalogs, local services and metadata servers, release APIs, media, fonts and UI assets,
    credentials, and the repository's own text and config files."""
    if uri.startswith(_SYSTEM_PREFIXES) or (kind == "table" and uri.lower().startswith(_SYSTEM_TABLES)):
        return True
    if kind == "url":
        return _is_service_endpoint(uri) or suffix(uri) in _MEDIA_SUFFIXES | _FONT_SUFFIXES
    if kind != "path":
        return False
    name = uri.split("?", 1)[0].rsplit("/", 1)[-1].lower()
    if _is_secret(name) or _is_ui_asset(uri):
        return True
    if family == "datasets" and "://" not in uri and "." not in name and "*" not in name:
        return True  # `data_files=` naming no file: a hub id or a folder the code checked for (`.endswith(".json")`)
    if family != "open":
        return False
    return suffix(uri) in _NOT_DATA_SUFFIXES or name.startswith(_NOT_DATA_STEMS)


def _on_a_branch(uri: str) -> bool:
    """A file of a Git repository or hub named by a branch (`raw.githubusercontent.com/o/r/main/x`,
    `github.com/o/r/raw/refs/heads/main/x`, `.../-/raw/master/x`, `.../resolve/main/x`); a commit id or a tag there
    is pinned, and a branch word elsewhere in the path (`main-corpus/`) says nothing."""
    if not uri.startswith(("https://", "http://")):
        return False
    if "/refs/heads/" in uri:
        return True
    host, _, path = uri.split("://", 1)[-1].partition("/")
    parts = path.split("/")
    if host == "raw.githubusercontent.com":
        ref = parts[2] if len(parts) > 3 else ""
    else:
        markers = [i for i, part in enumerate(parts) if part in ("raw", "blob", "resolve", "tree")]
        ref = parts[markers[0] + 1] if markers and markers[0] + 1 < len(parts) else ""
    return ref.lower() in _BRANCHES


def unstable(access: Access, serving: bool, uri: str, kind: str, star: bool) -> str:
    found = words(uri)
    if uri.startswith(("models:/", "runs:/")):
        return "another model's output (an MLflow model URI)"
    # predictions by evidence: the file's own name or the name the read is held in, never a folder's name
    if (words(_stem(uri)) | words(access.holds)) & _PREDICTION_WORDS:
        return "another model's output (its predictions or scores)"
    if _on_a_branch(uri):
        return "a branch of a Git repository instead of a commit"
    if found & _ALIAS_WORDS:
        return f"a moving alias ({sorted(found & _ALIAS_WORDS)[0]}) instead of a version"
    if star:
        return "SELECT * takes whatever columns the table has today"
    if kind == "dataset" and not access.pinned:
        return "a hub dataset without a pinned revision"
    if kind == "hubmodel" and not access.pinned:
        return "a hub model pulled by name without a pinned revision"
    if access.module_level and serving:
        return "read at import time in a serving module"
    return ""
