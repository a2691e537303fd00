"""Settings from the environment: a missing or malformed setting names the variable and never shows a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from paydown.service.settings import Settings, SettingsError


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_local_defaults_need_nothing(tmp_path: Path) -> None:
    settings = Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'paydown.db'}"
    assert settings.redis_url is None and not settings.app_configured
    assert settings.host == "127.0.0.1"


def test_app_settings_from_a_key_file(tmp_path: Path, pem: str) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    settings = Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path), "PAYDOWN_GITHUB_APP_ID": "1234",
                                  "PAYDOWN_GITHUB_PRIVATE_KEY_FILE": str(key_file),
                                  "PAYDOWN_WEBHOOK_SECRET": "s3cret-value",
                                  "PAYDOWN_GITHUB_API_URL": "https://ghe.example.com/api/v3/",
                                  "PAYDOWN_DATABASE_URL": "postgresql+psycopg://u:pw-secret@db/paydown"})
    assert settings.app_configured and settings.github_app_id == 1234
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    shown = repr(settings)
    assert "s3cret-value" not in shown and "PRIVATE KEY" not in shown


@pytest.mark.parametrize(("env", "name"), [
    ({"PAYDOWN_GITHUB_APP_ID": "abc"}, "PAYDOWN_GITHUB_APP_ID"),
    ({"PAYDOWN_GITHUB_APP_ID": "12"}, "PAYDOWN_GITHUB_PRIVATE_KEY_FILE"),
    ({"PAYDOWN_GITHUB_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "PAYDOWN_GITHUB_PRIVATE_KEY_FILE"),
    ({"PAYDOWN_GITHUB_PRIVATE_KEY": "not a key"}, "PAYDOWN_GITHUB_PRIVATE_KEY"),
    ({"PAYDOWN_DATABASE_URL": "mysql://u:hunter2@db/x"}, "PAYDOWN_DATABASE_URL"),
    ({"PAYDOWN_REDIS_URL": "http://u:hunter2@cache"}, "PAYDOWN_REDIS_URL"),
    ({"PAYDOWN_GITHUB_API_URL": "ftp://x"}, "PAYDOWN_GITHUB_API_URL"),
    ({"PAYDOWN_PORT": "99999"}, "PAYDOWN_PORT"),
    ({"PAYDOWN_RETRY_INTERVALS": "10,soon"}, "PAYDOWN_RETRY_INTERVALS"),
    ({"PAYDOWN_WRITE_GAP_SECONDS": "-1"}, "PAYDOWN_WRITE_GAP_SECONDS"),
])
def test_a_bad_setting_names_the_variable_and_not_its_value(tmp_path: Path, env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path), **env})
    assert caught.value.name == name and str(caught.value).startswith(name)
    assert "hunter2" not in str(caught.value)


def test_an_app_without_a_webhook_secret_is_refused(tmp_path: Path, pem: str) -> None:
    with pytest.raises(SettingsError, match="PAYDOWN_WEBHOOK_SECRET"):
        Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path), "PAYDOWN_GITHUB_APP_ID": "1",
                           "PAYDOWN_GITHUB_PRIVATE_KEY": pem})


def test_the_cli_stops_with_the_setting_named(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from paydown.cli import main

    monkeypatch.setenv("PAYDOWN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAYDOWN_GITHUB_APP_ID", "twelve")
    assert main(["worker", "--burst"]) == 2
    assert "PAYDOWN_GITHUB_APP_ID" in capsys.readouterr().err


def save_app(data_dir: Path, pem: str, **fields: object) -> dict[str, object]:
    """What /setup writes: github-app.json and github-app.pem in the data folder."""
    saved = {"app_id": 777, "slug": "paydown-acme", "html_url": "https://github.com/apps/paydown-acme",
             "webhook_secret": "saved-hook-secret", "client_id": "Iv1.saved", "client_secret": "saved-client-secret",
             **fields}
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "github-app.json").write_text(json.dumps(saved))
    (data_dir / "github-app.pem").write_text(pem)
    return saved


def test_the_app_registered_at_setup_is_read_from_the_data_folder(tmp_path: Path, pem: str) -> None:
    save_app(tmp_path, pem)

    settings = Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path)})

    assert settings.app_configured and settings.github_app_id == 777
    assert settings.github_private_key == pem.strip() + "\n"
    assert settings.webhook_secret == "saved-hook-secret"
    assert (settings.oauth_client_id, settings.oauth_client_secret) == ("Iv1.saved", "saved-client-secret")
    assert settings.host == "0.0.0.0"  # an App: reachable by GitHub, as with the variables
    shown = repr(settings)
    assert "saved-hook-secret" not in shown and "saved-client-secret" not in shown and "PRIVATE KEY" not in shown


def test_environment_variables_win_over_the_saved_app(tmp_path: Path, pem: str) -> None:
    save_app(tmp_path, pem)
    overridden = Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path), "PAYDOWN_WEBHOOK_SECRET": "env-secret",
                                    "PAYDOWN_GITHUB_CLIENT_ID": "Iv1.env", "PAYDOWN_GITHUB_CLIENT_SECRET": "env-cs"})
    assert overridden.github_app_id == 777 and overridden.webhook_secret == "env-secret"
    assert (overridden.oauth_client_id, overridden.oauth_client_secret) == ("Iv1.env", "env-cs")

    (tmp_path / "github-app.json").write_text("{not json")  # not even read when the environment names an App
    key_file = tmp_path / "env.pem"
    key_file.write_text(pem)
    env_app = Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path), "PAYDOWN_GITHUB_APP_ID": "12",
                                 "PAYDOWN_GITHUB_PRIVATE_KEY_FILE": str(key_file),
                                 "PAYDOWN_WEBHOOK_SECRET": "env-secret"})
    assert env_app.github_app_id == 12 and env_app.oauth_client_id is None


@pytest.mark.parametrize(("write", "bad"), [
    (lambda d, pem: (d / "github-app.json").write_text('{"app_id": 777, "webhook_secret": "hunter2",'), "json"),
    (lambda d, pem: save_app(d, pem, app_id="777"), "json"),
    (lambda d, pem: save_app(d, pem, app_id=True), "json"),
    (lambda d, pem: (d / "github-app.json").write_text('["hunter2"]'), "json"),
    (lambda d, pem: save_app(d, pem, client_secret=["hunter2"]), "json"),
    (lambda d, pem: save_app(d, "hunter2 is no key"), "pem"),
    (lambda d, pem: (save_app(d, pem), (d / "github-app.pem").unlink()), "pem"),
])
def test_a_malformed_saved_app_names_the_file_and_not_its_secrets(tmp_path: Path, pem: str, write: Any,
                                                                  bad: str) -> None:
    write(tmp_path, pem)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"PAYDOWN_DATA_DIR": str(tmp_path)})
    assert caught.value.name == str(tmp_path / f"github-app.{bad}")
    assert str(caught.value).startswith(str(tmp_path / f"github-app.{bad}"))
    assert "hunter2" not in str(caught.value) and "saved-hook-secret" not in str(caught.value)
