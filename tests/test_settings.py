"""Settings: environment names, and keys generated once per data directory."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import pytest
from pydantic import ValidationError

from skinstack.accounts.security import create_access_token, decode_access_token
from skinstack.config import Settings

PRINT_KEYS = (
    "from skinstack.config import Settings; s = Settings(); "
    "print(s.jwt_secret(), s.fernet_keys()[0].decode(), s.pii_hash_key().decode())"
)


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.internal:5432/skinstack")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("BASE_URL", "https://app.skinstack.example")
    monkeypatch.setenv("SHORT_DOMAIN", "https://skn.example")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:12111")
    monkeypatch.setenv("PAYPAL_API_BASE", "http://127.0.0.1:12112")
    monkeypatch.setenv("SKINSTACK_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.database_url == "postgresql://u:p@db.internal:5432/skinstack"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.jwt_secret() == "from-the-environment"
    assert settings.base_url == "https://app.skinstack.example"
    assert settings.short_domain == "https://skn.example"
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.paypal_api_base == "http://127.0.0.1:12112"
    assert settings.data_dir == tmp_path
    assert not (tmp_path / "keys" / "secret_key").exists()  # an explicit key is never written


def test_blank_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "  ")
    assert Settings().database_url is None


def test_trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().trusted_proxies == ()  # unset: no forwarded header is believed
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7  2001:db8::/32")
    assert Settings().trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("192.0.2.7/32"),
                                          ip_network("2001:db8::/32"))
    monkeypatch.setenv("TRUSTED_PROXIES", "10.1.2.3/8")  # host bits set: a typo, refused
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        Settings()


def test_generated_keys_are_shared_by_concurrent_processes(tmp_path: Path) -> None:
    env = {"SKINSTACK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    processes = [subprocess.Popen([sys.executable, "-c", PRINT_KEYS], env=env,
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(outputs) == 1, "every process must read the same generated keys"
    secret = outputs.pop().split()[0]
    assert len(secret) >= 48
    key_file = tmp_path / "keys" / "secret_key"
    assert key_file.read_text().strip() == secret
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = subprocess.run([sys.executable, "-c", PRINT_KEYS], env=env, capture_output=True,
                           text=True, check=True)
    assert again.stdout.split()[0] == secret


def test_a_token_from_one_process_is_accepted_by_another(tmp_path: Path) -> None:
    first = Settings(SKINSTACK_DATA_DIR=tmp_path)
    second = Settings(SKINSTACK_DATA_DIR=tmp_path)
    user_id = uuid.uuid4()
    token = create_access_token(user_id=user_id, role="merchant", secret=first.jwt_secret(),
                                expires_in=timedelta(minutes=30))
    assert decode_access_token(token, secret=second.jwt_secret()).user_id == user_id
