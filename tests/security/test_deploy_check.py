"""``manage.py check --deploy`` is clean with the settings a production install sets (see
README, "Production set-up", and .env.example): not a single warning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env.update({
        "DEBUG": "false",
        "SECRET_KEY": "p" * 20 + "-production-secret-key-with-enough-entropy-Xq9Zr",
        "PORTAL_REQUIRE_SECRETS": "true",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "portal.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://portal.example.com",
        "BEHIND_TLS_PROXY": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "PORTAL_VAR_DIR": str(tmp_path),
        **overrides,
    })
    return env


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level",
                           "WARNING"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _check_deploy(_production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_complains_about_the_development_defaults(tmp_path):
    """The same check is not silenced: left at the defaults, HTTPS settings are reported."""
    env = _production_env(tmp_path, SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0",
                          SESSION_COOKIE_SECURE="false")
    result = _check_deploy(env)
    assert result.returncode == 1
    for check in ("security.W004", "security.W008", "security.W012"):
        assert check in result.stderr
