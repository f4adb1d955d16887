"""The embedded default broker: kombu's filesystem transport, with every
message written whole before it appears in the queue folder.

kombu's own writer creates the message file in the queue folder and then
writes into it. A worker that lists the folder in between moves the still
empty file away and fails to decode it ("Expecting value: line 1 column 1"),
an error the worker does not survive, and honcho then stops the whole
portal (kombu issue 1551, open). A newcomer's walk through the pages hit it
after about ten minutes, Beat sending a task every 5 s. Here a message is
written under a name the reader skips (``….msg.part``) and renamed into
place: ``os.replace`` is atomic within one file system, so a reader sees
either no file or the whole message.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# The reader takes files named "<time>_<uuid>.<queue>.msg" only.
PARTIAL = ".part"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written, then renamed into place."""
        name = os.path.join(self.data_folder_out, f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg")
        try:
            with open(name + PARTIAL, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(name + PARTIAL, name)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
