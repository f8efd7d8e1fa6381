"""Helpers for tests that run real processes: spare ports, polling with a deadline, a Redis server
of the test's own (the machine's shared one is never stopped), a Celery worker process, and a TCP
proxy that can cut every connection through it."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def spare_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(condition, seconds, what, every=0.1, explain=None):
    """Wait until `condition()` is true; else fail, with what `explain()` says about the state reached."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"not within {seconds} s: {what}" + (f"\n{explain()}" if explain else ""))


def answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class OwnRedis:
    """A redis-server on a spare port, without persistence, that the test may stop and start."""

    def __init__(self, folder):
        self.port = spare_port()
        self.folder = folder
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is needed to start a Redis of the test's own (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        poll(lambda: answers(self.port), 10, "redis-server answers")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        poll(lambda: not answers(self.port), 10, "redis-server stopped")


class WorkerProcess:
    """`celery worker` (prefork, one child) in its own process group, on the given environment."""

    def __init__(self, env, name, folder, beat=False):
        self.env, self.name, self.folder, self.beat = env, name, folder, beat
        self.log = folder / f"{name}.log"
        self.process = None

    def start(self):
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=INFO",
            f"--hostname={self.name}@%h",
        ]
        if self.beat:
            command += ["--beat", f"--schedule={self.folder / (self.name + '-beat')}"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def hostname(self):
        return f"{self.name}@{socket.gethostname()}"

    def kill(self):
        """SIGKILL to the whole worker: its main process and its pool children at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self):
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class CuttableProxy:
    """A TCP proxy to `target` (host, port): `cut()` drops every connection through it and refuses new
    ones, as a failed network or a restarted database server would; `heal()` lets them through again."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.pairs = []
        self.lock = threading.Lock()
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.pairs.append((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.open = False
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for end in pair:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                    end.close()
                except OSError:
                    pass

    def heal(self):
        self.open = True

    def close(self):
        self.running = False
        self.cut()
        self.listener.close()
