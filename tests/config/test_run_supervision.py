"""`make run` supervises its processes: a killed worker is restarted while the web keeps serving,
SIGTERM stops every child, and gunicorn's control socket lives in the registry's var folder."""

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ROOT, poll, spare_port


def login_answers(port, timeout=2):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def parent_of(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def command_of(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(root):
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            children.setdefault(parent_of(entry.name), []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def celery_masters(script_pid):
    """The worker processes the script started itself (not their pool children)."""
    return [
        pid
        for pid in descendants(script_pid)
        if parent_of(pid) == script_pid and "celery" in command_of(pid) and "worker" in command_of(pid)
    ]


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT"}}
    env.update(REGISTRY_VAR_DIR=str(tmp_path / "var"), DEBUG="false", HOST="127.0.0.1", PORT=str(spare_port()))
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    return env


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
def test_a_killed_worker_is_restarted_and_sigterm_stops_everything(embedded_env):
    port = embedded_env["PORT"]
    script = subprocess.Popen(
        ["scripts/run.sh"],
        cwd=ROOT,
        env=embedded_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = set()
    try:
        poll(lambda: login_answers(port), 30, "/login/ answers")
        assert (Path(embedded_env["REGISTRY_VAR_DIR"]) / "gunicorn.ctl").is_socket()
        (first_worker,) = poll(lambda: celery_masters(script.pid), 10, "a worker runs")
        seen.update(descendants(script.pid))

        os.kill(first_worker, signal.SIGKILL)

        second = poll(lambda: [p for p in celery_masters(script.pid) if p != first_worker], 15, "a new worker")
        # Generous: a gunicorn worker's first page (templates, URLs) is slow while the new worker starts.
        assert login_answers(port, timeout=15)
        seen.update(descendants(script.pid))

        script.send_signal(signal.SIGTERM)
        assert script.wait(timeout=30) == 0
        poll(lambda: not any(alive(pid) for pid in seen), 10, "every child is gone")
        assert second and not login_answers(port)
    finally:
        seen.update(descendants(script.pid))  # a failed step must not leave a server or worker behind
        if script.poll() is None:
            script.kill()
            script.wait()
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
