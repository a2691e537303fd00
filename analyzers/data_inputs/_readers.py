"""Which calls read or write data, and which argument names the source: one small table per reader family."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from ..cst import dotted_name, string_value
from ._values import Evaluator, Value, hole, join, literal_text

_FRAME_LIBRARIES = {"pandas": "pandas", "polars": "polars", "dask": "dask", "modin": "pandas", "cudf": "pandas",
                    "pyarrow": "pyarrow"}
_FRAME_SQL = frozenset({"read_sql", "read_sql_query", "read_database", "read_gbq"})
_FRAME_TABLE = frozenset({"read_sql_table", "read_database_uri"})
_FRAME_PATH_KEYWORDS = ("filepath_or_buffer", "path_or_buf", "path", "io", "source", "file", "uri", "urlpath")
_FRAME_WRITES = frozenset({"to_csv", "to_parquet", "to_json", "to_pickle", "to_feather", "to_excel", "to_hdf",
                           "to_orc", "to_stata", "write_csv", "write_parquet", "write_json", "write_ndjson",
                           "write_ipc", "write_excel", "write_delta", "sink_parquet", "sink_csv", "sink_ipc"})
_SIMPLE_LOADS = {
    "numpy.load": "numpy", "numpy.loadtxt": "numpy", "numpy.genfromtxt": "numpy", "numpy.fromfile": "numpy",
    "torch.load": "torch", "joblib.load": "joblib", "datasets.load_from_disk": "datasets",
    "safetensors.torch.load_file": "safetensors", "tensorflow.keras.models.load_model": "keras",
    "keras.models.load_model": "keras", "keras.saving.load_model": "keras", "h5py.File": "h5py",
    "xarray.open_dataset": "xarray", "scipy.io.loadmat": "scipy",
}
_SIMPLE_SAVES = {"numpy.save": 0, "numpy.savez": 0, "numpy.savez_compressed": 0, "numpy.savetxt": 0,
                 "torch.save": 1, "joblib.dump": 1, "safetensors.torch.save_file": 1}
_SAVE_METHODS = frozenset({"save", "save_model", "save_pretrained", "save_weights", "save_to_disk"})
_OPENERS = {"open": 1, "io.open": 1, "codecs.open": 1, "gzip.open": 1, "bz2.open": 1, "lzma.open": 1,
            "fsspec.open": 1, "smart_open.open": 1, "smart_open.smart_open": 1, "tensorflow.io.gfile.GFile": 1}
_HTTP_GETS = frozenset({"requests.get", "httpx.get", "urllib.request.urlopen", "urllib.request.urlretrieve",
                        "urllib.urlopen", "wget.download", "torch.hub.download_url_to_file",
                        "torchvision.datasets.utils.download_url", "gdown.download", "pooch.retrieve"})
_DOWNLOADS = frozenset({"urllib.request.urlretrieve", "wget.download", "torch.hub.download_url_to_file",
                        "torchvision.datasets.utils.download_url", "gdown.download"})
_MLFLOW_LOADS = frozenset({"load_model", "download_artifacts", "load_table", "load_dict", "load_text",
                           "load_image"})
_REMOTE = ("s3://", "s3a://", "s3n://", "gs://", "gcs://", "abfs://", "abfss://", "az://", "adl://", "hdfs://",
           "wasb://", "wasbs://", "oss://", "dbfs:/", "hf://", "file://")
_SPARK_READS = frozenset({"parquet", "csv", "json", "orc", "text", "load", "table", "jdbc", "delta", "avro"})
_SPARK_WRITES = frozenset({"parquet", "csv", "json", "orc", "text", "save", "saveAsTable", "insertInto", "delta"})
_HUB_DOWNLOADS = frozenset({"huggingface_hub.hf_hub_download", "huggingface_hub.snapshot_download",
                            "huggingface_hub.file_download.hf_hub_download"})
# Libraries whose `X.from_pretrained(name)` pulls a model repository from the Hugging Face hub by name.
_HUB_MODEL_LIBRARIES = frozenset({"transformers", "peft", "diffusers", "sentence_transformers"})
_HUB_FORMATS = frozenset({"csv", "json", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder",
                          "webdataset"})


@dataclass(frozen=True, slots=True)
class Detected:
    family: str
    kind: str
    value: Value
    write: bool = False
    pinned: bool = False


@dataclass(slots=True)
class Call:
    node: cst.Call
    name: str  # canonical dotted name of the callee, "" for chained calls
    evaluator: Evaluator
    parent: cst.CSTNode | None

    def arg(self, index: int, *keywords: str) -> cst.BaseExpression | None:
        for arg in self.node.args:
            if arg.keyword is not None and arg.keyword.value in keywords:
                return arg.value
        positional = [a.value for a in self.node.args if a.keyword is None and not a.star]
        return positional[index] if 0 <= index < len(positional) else None

    def value(self, index: int, *keywords: str) -> Value | None:
        node = self.arg(index, *keywords)
        return None if node is None else self.evaluator.value(node)

    def values(self, index: int, *keywords: str) -> list[Value]:
        """The values of one argument, one per item when it is (or names) a dict or list literal."""
        return self.evaluator.values(self.arg(index, *keywords))

    def keyword_text(self, keyword: str) -> str | None:
        for arg in self.node.args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                return string_value(arg.value)
        return None

    def has_keyword(self, keyword: str) -> bool:
        return any(a.keyword is not None and a.keyword.value == keyword for a in self.node.args)


def _attr(call: Call) -> str:
    return call.node.func.attr.value if isinstance(call.node.func, cst.Attribute) else ""


def _chain(node: cst.BaseExpression) -> list[str]:
    """Names along ``spark.read.option(...).format(...)``: calls are stepped through."""
    names: list[str] = []
    while True:
        if isinstance(node, cst.Call):
            node = node.func
        elif isinstance(node, cst.Attribute):
            names.append(node.attr.value)
            node = node.value
        elif isinstance(node, cst.Name):
            names.append(node.value)
            return names[::-1]
        else:
            return names[::-1]


def _is_remote(value: Value | None) -> bool:
    first = value[0] if value else None
    return isinstance(first, str) and first.startswith(_REMOTE)


def _open_mode(call: Call, index: int) -> str:
    mode = call.arg(index, "mode")
    text = string_value(mode) if mode is not None else "r"
    return text if text is not None else "?"


def _opened(call: Call, family: str, path: Value | None, mode: str) -> list[Detected]:
    if path is None or mode == "?":
        return []
    write = any(flag in mode for flag in "wax")
    return [Detected(family, "path", path, write=write)]


def _frames(call: Call, root: str, attr: str) -> list[Detected]:
    family = _FRAME_LIBRARIES[root]
    if attr in _FRAME_SQL:
        value = call.value(0, "sql", "query")
        return [Detected(family, "sql", value)] if value else []
    if attr in _FRAME_TABLE:
        value = call.value(0, "table_name", "table")
        return [Detected(family, "table", value)] if value else []
    if attr.startswith(("read_", "scan_")) and attr != "read_clipboard":
        value = call.value(0, *_FRAME_PATH_KEYWORDS)
        return [Detected(family, "path", value)] if value else []
    return []


def _spark(call: Call) -> list[Detected]:
    chain = _chain(call.node.func)
    if len(chain) < 2 or not any("spark" in n.lower() or n in {"sqlContext", "hiveContext"} for n in chain[:-1]):
        return []
    attr = chain[-1]
    if "read" in chain[:-1] or "readStream" in chain[:-1]:
        if attr not in _SPARK_READS:
            return []
        if attr == "jdbc":
            value = call.value(1, "table")
            return [Detected("spark", "table", value)] if value else []
        value = call.value(0, "tableName" if attr == "table" else "path")
        return [Detected("spark", "table" if attr == "table" else "path", value)] if value else []
    if attr == "table" and len(chain) == 2:
        value = call.value(0, "tableName")
        return [Detected("spark", "table", value)] if value else []
    if attr == "sql" and len(chain) == 2:
        value = call.value(0, "sqlQuery")
        return [Detected("spark", "sql", value)] if value else []
    return []


def _spark_write(call: Call) -> list[Detected]:
    chain = _chain(call.node.func)
    if "write" not in chain[:-1] and "writeStream" not in chain[:-1]:
        return []
    attr = chain[-1]
    if attr not in _SPARK_WRITES:
        return []
    value = call.value(0, "name", "tableName", "path")
    kind = "table" if attr in {"saveAsTable", "insertInto"} else "path"
    return [Detected("spark", kind, value, write=True)] if value else []


def _download_artifacts(call: Call) -> list[Detected]:
    """``MlflowClient().download_artifacts(run_id, path, dst_path)``: reads a run's output, writes a local copy."""
    run, path = call.value(0, "run_id"), call.value(1, "path")
    if not run or not path:
        return []
    found = [Detected("mlflow", "model", ("runs:/", *run, "/", *path))]
    destination = call.value(2, "dst_path")
    if destination:
        found.append(Detected("mlflow", "path", join(destination, path), write=True))
    return found


def _boto(call: Call, attr: str) -> list[Detected]:
    if attr == "get_object":
        bucket, key = call.value(-1, "Bucket"), call.value(-1, "Key")
    elif attr in {"download_file", "download_fileobj"}:
        bucket, key = call.value(0, "Bucket"), call.value(1, "Key")
    elif attr == "put_object":
        bucket, key = call.value(-1, "Bucket"), call.value(-1, "Key")
    elif attr in {"upload_file", "upload_fileobj"}:
        bucket, key = call.value(1, "Bucket"), call.value(2, "Key")
    else:
        return []
    if not bucket or not key:
        return []
    write = attr.startswith(("put", "upload"))
    found = [Detected("boto3", "path", ("s3://", *bucket, "/", *key), write=write)]
    local = call.value(2, "Filename") if attr == "download_file" else None
    return [*found, Detected("boto3", "path", local, write=True)] if local else found


def _hub(call: Call) -> list[Detected]:
    name = call.value(0, "path")
    if not name:
        return []
    pinned = call.has_keyword("revision")
    if literal_text(name) in _HUB_FORMATS:
        # `load_dataset("json", data_files={"train": URL, ...})`: each file is its own source
        return [Detected("datasets", "path", value, pinned=True)
                for value in call.values(-1, "data_files", "data_dir") if value]
    return [Detected("datasets", "dataset", name, pinned=pinned)]


def _hub_file(call: Call) -> list[Detected]:
    """``hf_hub_download`` / ``snapshot_download`` of a dataset repository (a model repository is weights)."""
    if call.keyword_text("repo_type") != "dataset":
        return []
    name = call.value(0, "repo_id")
    return [Detected("huggingface_hub", "dataset", name, pinned=call.has_keyword("revision"))] if name else []


def _library_dataset(call: Call, name: str) -> list[Detected]:
    """A data set a library fetches by name and checks against its own checksums: `torchvision.datasets.MNIST(...,
    download=True)`, `tfds.load("mnist")`, `keras.datasets.mnist.load_data()`, `nltk.download("punkt")`,
    `sklearn.datasets.fetch_covtype()`. Named `library://<library>/<data set>`."""
    parts = name.split(".")
    if name.startswith("torchvision.datasets.") and len(parts) == 3 and parts[2][:1].isupper():
        download = call.arg(-1, "download")
        return [_named("torchvision", parts[2])] if dotted_name(download) == "True" else []
    if name in ("tensorflow_datasets.load", "tensorflow_datasets.builder"):
        value = call.value(0, "name")
        text = literal_text(value) if value else None
        return [_named("tensorflow_datasets", text)] if text else []
    if ".keras.datasets." in f".{name}" and parts[-1] == "load_data" and len(parts) >= 4:
        return [_named("keras", parts[-2])]
    if name == "nltk.download":
        text = literal_text(call.value(0, "info_or_id") or ())
        return [_named("nltk", text)] if text else []
    if name.startswith("sklearn.datasets.fetch_") and len(parts) == 3:
        return [_named("sklearn", parts[2].removeprefix("fetch_"))]
    return []


def _named(library: str, data_set: str) -> Detected:
    return Detected(library, "library", (f"library://{library}/{data_set}",))


def _ray(call: Call) -> list[Detected]:
    """``ray.data.read_parquet(paths)``: one source per path, a list of paths included."""
    return [Detected("ray", "path", value) for value in call.values(0, "paths") if value]


def _mlflow(call: Call, attr: str) -> list[Detected]:
    if attr == "register_model":
        name = call.value(1, "name")
        return [Detected("mlflow", "model", ("models:/", *name), write=True)] if name else []
    if attr == "log_model" and call.arg(-1, "registered_model_name") is not None:
        name = call.value(-1, "registered_model_name")
        return [Detected("mlflow", "model", ("models:/", *name), write=True)] if name else []
    if attr in _MLFLOW_LOADS:
        value = call.value(0, "model_uri", "artifact_uri", "artifact_file")
        found = [Detected("mlflow", "model", value)] if value else []
        destination = call.value(-1, "dst_path") if attr == "download_artifacts" else None
        return [*found, Detected("mlflow", "path", destination, write=True)] if destination else found
    return []


def _methods(call: Call, attr: str) -> list[Detected]:
    """Calls recognised by method name alone: frame writes, pathlib and file-system reads, SQL execute."""
    func = call.node.func
    assert isinstance(func, cst.Attribute)
    if attr in _FRAME_WRITES:
        value = call.value(0, "path", "path_or_buf", "file", "excel_writer", "target")
        return [Detected("pandas", "path", value, write=True)] if value else []
    if attr == "to_sql":
        value = call.value(0, "name")
        return [Detected("pandas", "table", value, write=True)] if value else []
    if attr in _SAVE_METHODS:
        value = call.value(0, "filepath", "path", "save_directory", "dataset_path", "dataset_dict_path")
        return [Detected("model", "path", value, write=True)] if value and not _leading_hole(value) else []
    if attr in {"read_text", "read_bytes", "open", "write_text", "write_bytes"}:
        receiver = call.evaluator.value(func.value)
        if not _leading_hole(receiver):
            if attr == "open":
                return _opened(call, "open", receiver, _open_mode(call, 0))
            return [Detected("open", "path", receiver, write=attr.startswith("write"))]
    if attr == "get" and dotted_name(func.value).rsplit(".", 1)[-1] == "file":
        return _stage_get(call)
    if attr in {"open", "cat", "cat_file", "get", "download", "put", "upload"}:
        return _file_system(call, attr, dotted_name(func.value))
    if attr in {"extract", "extractall"}:
        return _extracted(call, attr)
    if attr in {"execute", "exec_driver_sql", "executemany", "executescript"}:
        value = call.value(0, "statement", "sql", "operation", "query")
        return [Detected("sql", "sql", value)] if value and not _leading_hole(value) else []
    if attr == "load_model":
        value = call.value(0, "fname", "filepath", "path", "model_file")
        return [Detected("model", "path", value)] if value and not _leading_hole(value) else []
    return []


def _extracted(call: Call, attr: str) -> list[Detected]:
    """An archive's ``extract(member, path)`` writes that member, ``extractall(path)`` writes under the folder:
    what is read from there afterwards is the repository's copy of a download reported where it is fetched."""
    folder = call.value(1 if attr == "extract" else 0, "path")
    if attr == "extractall":
        if not folder or literal_text(folder) in ("", ".", "./"):
            return [Detected("archive", "path", (".",), write=True)]  # into the working directory
        return [Detected("archive", "path", folder, write=True)] if not _leading_hole(folder) else []
    member = call.value(0, "member")
    text = literal_text(member[-1:]) if member else None
    if not member or not text or "." not in text.rsplit("/", 1)[-1]:
        return []  # `.extract(x)` is also a feature extractor's verb: only a file name is an archive member
    return [Detected("archive", "path", join(folder, member) if folder else member, write=True)]


def _stage_get(call: Call) -> list[Detected]:
    """Snowpark ``session.file.get("@stage/path", target_directory)`` copies stage files into a local folder:
    what is read from that folder afterwards is the local copy."""
    stage, folder = call.value(0, "stage_location"), call.value(1, "target_directory")
    first = stage[0] if stage else None
    if not folder or not isinstance(first, str) or not first.startswith("@"):
        return []
    return [Detected("snowpark", "path", folder, write=True)]


def _file_system(call: Call, attr: str, receiver: str) -> list[Detected]:
    last = receiver.rsplit(".", 1)[-1].lower()
    if attr in {"put", "upload"}:
        value = call.value(1, "rpath")
        return [Detected("fsspec", "path", value, write=True)] if _is_remote(value) and value else []
    value = call.value(0, "path", "rpath", "urlpath")
    text = literal_text(value[:1]) if value else None
    if value is None or not text or not any(c in text for c in "/."):
        return []
    if not (_is_remote(value) or last.endswith("fs") or last in {"s3", "gcs", "hdfs", "filesystem"}):
        return []
    if attr == "open":
        return _opened(call, "fsspec", value, _open_mode(call, 1))
    return [Detected("fsspec", "path", value)]


def _leading_hole(value: Value) -> bool:
    return not value or not isinstance(value[0], str)


def classify_call(call: Call) -> list[Detected]:
    """What data this call reads or writes, if any."""
    name, attr = call.name, _attr(call)
    if name.startswith("six.moves.urllib."):
        name = name.removeprefix("six.moves.")
    root = name.split(".", 1)[0]
    if name in _OPENERS:
        family = "fsspec" if name.startswith(("fsspec", "smart_open")) else "open"
        return _opened(call, family, call.value(0, "file", "filename", "urlpath", "uri", "name"),
                       _open_mode(call, _OPENERS[name]))
    if name == "h5py.File":
        return _opened(call, "h5py", call.value(0, "name"), _open_mode(call, 1))
    if name == "shutil.unpack_archive":
        folder = call.value(1, "extract_dir")
        return [Detected("archive", "path", folder, write=True)] if folder else []
    if name in _SIMPLE_LOADS:
        value = call.value(0, "f", "file", "fname", "filepath", "filename", "name", "path", "dataset_path")
        return [Detected(_SIMPLE_LOADS[name], "path", value)] if value else []
    if name in _SIMPLE_SAVES:
        value = call.value(_SIMPLE_SAVES[name], "f", "file", "fname", "filename")
        return [Detected(root, "path", value, write=True)] if value else []
    if name in ("datasets.load_dataset", "datasets.load.load_dataset", "nlp.load_dataset"):  # `nlp`: its old name
        return _hub(call)
    if name in _HUB_DOWNLOADS:
        return _hub_file(call)
    library = _library_dataset(call, name)
    if library:
        return library
    if attr == "from_pretrained" and root in _HUB_MODEL_LIBRARIES:
        value = call.value(0, "pretrained_model_name_or_path", "model_id")
        return [Detected(root, "hubmodel", value, pinned=call.has_keyword("revision"))] if value else []
    if name.startswith("ray.data.read_"):
        return _ray(call)
    if name in _HTTP_GETS or (name in {"requests.request", "httpx.request"}
                              and (string_value(call.arg(0, "method")) or "").upper() == "GET"):
        value = call.value(1 if name.endswith(".request") else 0, "url")
        first = value[0] if value else None
        bound_later = isinstance(first, tuple) and first[0] in ("param", "imp", "ret")  # by a caller, or another module
        if bound_later or (isinstance(first, str) and first.startswith(("http://", "https://", "ftp://"))):
            local = call.value(1, "filename", "out", "dst", "output", "path", "root") if name in _DOWNLOADS else None
            return [Detected("http", "url", value)] + ([Detected("http", "path", local, write=True)] if local else [])
        return [Detected("http", "url", hole("url"))] if value else []
    if root in _FRAME_LIBRARIES and "." in name:
        return _frames(call, root, attr)
    if root == "mlflow":
        return _mlflow(call, attr)
    if attr in {"get_object", "download_file", "download_fileobj", "put_object", "upload_file",
                "upload_fileobj"}:
        return _boto(call, attr)
    if attr == "download_artifacts" and root != "mlflow":
        return _download_artifacts(call)
    if isinstance(call.node.func, cst.Attribute):
        spark = _spark(call) or _spark_write(call)
        return spark or _methods(call, attr)
    return []
