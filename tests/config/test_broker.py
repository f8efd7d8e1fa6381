"""The embedded broker (kombu's filesystem transport, config.broker) loses no message when a worker
looks at the queue while a message is being written, and is the one the settings choose for
CELERY_BROKER_URL=filesystem://."""

import os
import subprocess
import sys
import threading
from queue import Empty

from kombu import Connection

from config.broker import Transport
from config.settings import filesystem_broker_options
from tests.processes import ROOT

MESSAGES = 2000


def test_a_reader_polling_while_messages_are_written_gets_every_one_whole(tmp_path):
    options = filesystem_broker_options(tmp_path)
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    received, broken = [], []
    writing = threading.Event()
    writing.set()

    def read():
        with Connection("filesystem://", transport=Transport, transport_options=options) as connection:
            channel = connection.default_channel
            while writing.is_set() or any(name.endswith(".msg") for name in os.listdir(tmp_path / "queue")):
                try:
                    received.append(channel._get("scans")["n"])
                except Empty:
                    continue
                except Exception as error:  # kombu's own transport: an empty file, message dropped
                    broken.append(repr(error))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with Connection("filesystem://", transport=Transport, transport_options=options) as connection:
            channel = connection.default_channel
            for n in range(MESSAGES):
                channel._put("scans", {"n": n, "body": "x" * 4000})
    finally:
        writing.clear()
        reader.join(timeout=120)
    assert not reader.is_alive()
    assert broken == []
    assert sorted(received) == list(range(MESSAGES))
    assert os.listdir(tmp_path / "queue") == []  # no partial file left behind


def test_the_settings_give_filesystem_urls_this_transport_and_other_brokers_their_own(tmp_path):
    show = "from config.celery import app; print(type(app.connection_for_write().transport).__module__)"
    for url, expected in (("filesystem://", "config.broker"), ("redis://127.0.0.1:1/0", "kombu.transport.redis")):
        env = dict(os.environ, CELERY_BROKER_URL=url, REGISTRY_VAR_DIR=str(tmp_path / "var"))
        answer = subprocess.run(
            [sys.executable, "-c", show], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == expected, (url, answer.stdout)
