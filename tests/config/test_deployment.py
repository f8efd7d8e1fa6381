"""The multi-machine deployment files are valid: docker-compose accepts the compose file."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="needs docker-compose (apt-get install docker-compose)"
)
def test_the_compose_file_is_valid():
    env = {**os.environ, "SECRET_KEY": "compose-check", "POSTGRES_PASSWORD": "compose-check"}
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_compose_file_demands_a_secret_key():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SECRET_KEY: ${SECRET_KEY:?" in text
