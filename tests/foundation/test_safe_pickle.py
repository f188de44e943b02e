"""The restricted unpickler accepts plain data only and never runs anything."""

from __future__ import annotations

import collections
import os
import pickle

import pytest

from viprepro.errors import UserError
from viprepro.files.safe_pickle import load_plain_pickle


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_data_round_trips(tmp_path, protocol):
    data = {"a": [1, 2.5, "x", None, True], "b": ("t", b"bytes"), 3: {"nested": [[1, 2]]}, "s": {1, 2}}
    path = tmp_path / "m.p"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    assert load_plain_pickle(path) == data


class Boom:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


@pytest.mark.parametrize("payload", [Boom(), collections.OrderedDict(a=1), [Exception("x")]])
def test_anything_needing_a_global_is_refused(tmp_path, payload):
    path = tmp_path / "m.p"
    path.write_bytes(pickle.dumps(payload, protocol=3))
    with pytest.raises(UserError, match="refused to load global"):
        load_plain_pickle(path)


def test_garbage_and_missing_files(tmp_path):
    (tmp_path / "bad.p").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(UserError, match="bad.p"):
        load_plain_pickle(tmp_path / "bad.p")
    with pytest.raises(UserError, match="manifest not found"):
        load_plain_pickle(tmp_path / "none.p")
