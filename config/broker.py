"""The embedded broker (no server): kombu's filesystem transport, with every message written whole
before a worker can see it.

kombu's own transport creates a message's file under its final name and then writes it. A worker
that lists the folder in between takes the empty file, cannot read it and drops it, so the message
is lost: a scan stayed queued until the sweep sent it again, IMAGING_REQUEUE_AFTER_MINUTES later.
Here a message is written under a name no reader takes (it does not end in ``.<queue>.msg`` after
its first dot) and renamed to its final name once complete; a rename within a folder is atomic.

Used when CELERY_BROKER_URL is ``filesystem://`` (settings.CELERY_BROKER_TRANSPORT).
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put the message on `queue`: written under a hidden name, then renamed to the one readers take."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{name}")
        try:
            with open(partial, "wb", buffering=0) as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add a message to the queue {queue!r}") from error


class Transport(filesystem.Transport):
    Channel = Channel
