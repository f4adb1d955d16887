"""The embedded default broker (portal/filebroker.py): a message appears in
the queue folder only once it is written whole, so a worker listing the
folder meanwhile never reads an empty one (kombu issue 1551 stopped the
worker, and honcho the portal, in a newcomer's walk)."""

from queue import Empty

import pytest
from kombu import Connection
from kombu.exceptions import ChannelError

from portal import filebroker


@pytest.fixture
def channel(tmp_path):
    folders = {name: tmp_path / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir()
    options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]),
        "processed_folder": str(folders["processed"]),
        "store_processed": False,
    }
    with Connection("filesystem://localhost/", transport_options=options) as conn:
        yield conn.default_channel


def test_filesystem_urls_use_the_whole_message_writer(channel):
    assert isinstance(channel, filebroker.Channel)


def test_a_message_being_written_is_not_read(channel, monkeypatch):
    """The reader runs while the writer has its file open and empty: it
    finds nothing (kombu's own writer left an empty ``….celery.msg`` there,
    and the reader failed to decode it); then it reads the whole message."""
    seen = []
    encode = filebroker.str_to_bytes

    def reader_in_between(text):
        try:
            seen.append(channel._get("celery"))
        except Empty:
            seen.append("nothing")
        return encode(text)

    monkeypatch.setattr(filebroker, "str_to_bytes", reader_in_between)
    channel._put("celery", {"body": "x" * 10_000, "n": 1})
    assert seen == ["nothing"]
    assert channel._size("celery") == 1
    assert channel._get("celery") == {"body": "x" * 10_000, "n": 1}
    assert channel._size("celery") == 0


def test_an_unwritable_queue_folder_is_a_channel_error(channel, tmp_path):
    channel.data_folder_out = str(tmp_path / "missing")
    with pytest.raises(ChannelError):
        channel._put("celery", {"n": 1})
