"""Database connections persist between requests by default, checked before reuse; the web process loads
its URL map at start and takes it out of the garbage collector's sight."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_value(expression, **env):
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_CONN_MAX_AGE"}
    environment.update(DJANGO_SETTINGS_MODULE="config.settings", **env)
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    answer = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    )
    return answer.stdout.strip().splitlines()[-1]


def test_connections_are_kept_ten_minutes_and_checked_before_reuse_by_default():
    database = 'settings.DATABASES["default"]'
    assert settings_value(f'({database}["CONN_MAX_AGE"], {database}["CONN_HEALTH_CHECKS"])') == "(600, True)"


def test_database_conn_max_age_sets_how_long_a_connection_is_kept():
    assert settings_value('settings.DATABASES["default"]["CONN_MAX_AGE"]', DATABASE_CONN_MAX_AGE="0") == "0"


def test_the_web_process_loads_its_url_map_at_start_and_freezes_it():
    environment = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings")
    code = (
        "import gc, sys; import config.wsgi; "
        "print(gc.get_freeze_count() > 10000, 'registry.api.views' in sys.modules, 'research.views' in sys.modules)"
    )
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert answer.stdout.strip().splitlines()[-1] == "True True True", answer.stderr
