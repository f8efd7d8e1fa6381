"""The multi-machine deployment runs as documented: the services docker-compose parses out of the
compose file migrate first, schedule with beat, get every secret with no default, and the image
installs only the runtime requirements and runs as an unprivileged user."""

import os
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"POSTGRES_PASSWORD": "pgsecret42", "SECRET_KEY": "compose-check", "DEIDENTIFICATION_KEY": "deid-check"}
IMAGE_SERVICES = {"migrate", "web", "worker", "beat"}
NEEDS = ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEIDENTIFICATION_KEY")

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="needs docker-compose (apt-get install docker-compose)"
)


def compose_config(tmp_path, **secrets):
    """`docker-compose config` with these secrets in the environment and the env file."""
    env_file = tmp_path / "registry.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in secrets.items()))
    env = {name: value for name, value in os.environ.items() if name not in SECRETS}
    env.update(secrets, REGISTRY_ENV_FILE=str(env_file))
    return subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


@pytest.fixture
def services(tmp_path):
    result = compose_config(tmp_path, **SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def dockerfile_instructions():
    """The Dockerfile's instructions of the final stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    last_stage = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines, lines[last_stage:]


def test_web_workers_and_beat_wait_for_the_migration(services):
    assert "migrate" in services["migrate"]["command"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_beat_runs_the_schedule_once(services):
    assert services["beat"]["command"].startswith("celery -A config beat")
    assert "--beat" not in services["worker"]["command"]
    assert "gunicorn -c config/gunicorn.py config.wsgi:application" in services["web"]["command"]


def test_every_way_of_serving_reads_one_gunicorn_configuration():
    """run.sh, the image, the compose file and the web benchmark all start gunicorn with config/gunicorn.py."""
    for path in ("scripts/run.sh", "Dockerfile", "docker-compose.yml", "tests/bench/bench_web.py"):
        text = (ROOT / path).read_text()
        assert "config/gunicorn.py" in text or '"config", "gunicorn.py"' in text, path
        assert "--workers" not in text and "--threads" not in text, path


def gunicorn_settings(monkeypatch, **environment):
    for name in ("HOST", "PORT", "REGISTRY_VAR_DIR", "WEB_WORKERS", "WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "gunicorn.py"))


def test_gunicorn_runs_a_worker_per_core_with_four_threads_unless_told(monkeypatch):
    default = gunicorn_settings(monkeypatch)
    assert default["workers"] == len(os.sched_getaffinity(0)) and default["threads"] == 4
    assert default["bind"] == "127.0.0.1:8000" and default["accesslog"] == "-"
    assert default["control_socket"] == os.path.join("var", "gunicorn.ctl")

    told = gunicorn_settings(
        monkeypatch, HOST="0.0.0.0", PORT="8041", REGISTRY_VAR_DIR="/srv/registry", WEB_WORKERS="3", WEB_THREADS="2"
    )
    assert (told["bind"], told["workers"], told["threads"]) == ("0.0.0.0:8041", 3, 2)
    assert told["control_socket"] == "/srv/registry/gunicorn.ctl"


def test_every_service_of_the_image_has_what_it_needs(services):
    assert {name for name, service in services.items() if service.get("image") == "cp-cell-registry"} == (
        IMAGE_SERVICES
    )
    for name in IMAGE_SERVICES:
        environment = services[name]["environment"]
        missing = [key for key in NEEDS if not environment.get(key)]
        assert not missing, f"{name} lacks {missing}"
        assert environment["DATABASE_URL"] == "postgres://registry:pgsecret42@db:5432/registry"
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert environment["SECRET_KEY"] == SECRETS["SECRET_KEY"]
        assert environment["DEIDENTIFICATION_KEY"] == SECRETS["DEIDENTIFICATION_KEY"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]


def test_database_broker_and_web_have_health_checks_and_data_lives_in_named_volumes(services):
    for name in ("db", "redis", "web"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert services["web"]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["db"]["volumes"][0].startswith("pgdata:")
    assert services["web"]["volumes"][0].startswith("media:")


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_no_secret_has_a_default(tmp_path, secret):
    result = compose_config(tmp_path, **{name: value for name, value in SECRETS.items() if name != secret})
    assert result.returncode != 0
    assert secret in result.stderr


def test_the_image_installs_only_the_runtime_requirements_and_runs_unprivileged():
    everything, final = dockerfile_instructions()
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users and users[-1] not in {"root", "0", "0:0"}
    installs = [line for line in everything if "pip install" in line]
    assert installs and all("-r /tmp/requirements.txt" in line for line in installs)
    assert not [line for line in everything if "requirements-dev" in line]

    runtime = (ROOT / "requirements.txt").read_text().split()
    assert not {"pytest", "pytest-django", "playwright", "moto", "ruff", "schemathesis"} & {
        pin.split("==")[0].lower() for pin in runtime
    }
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in dev
