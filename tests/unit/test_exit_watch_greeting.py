"""The exit watch's greeting: a listener proves which speaker process it is, for one nonce."""

import pytest

from lbspeaker.l2.exit_watch import greeting, read_greeting

pytestmark = pytest.mark.unit

KEY = b"k" * 32
NONCE = bytes(range(16))


def test_a_greeting_names_the_node_and_its_incarnation() -> None:
    assert read_greeting(greeting("node2", 1234, NONCE, KEY), NONCE, KEY) == ("node2", 1234)


@pytest.mark.parametrize(
    ("description", "data", "nonce", "key"),
    [
        ("answered for another nonce (a replay)", greeting("node2", 1, bytes(16), KEY), NONCE, KEY),
        ("signed with another key", greeting("node2", 1, NONCE, b"x" * 32), NONCE, KEY),
        ("truncated", greeting("node2", 1, NONCE, KEY)[:-1], NONCE, KEY),
        ("empty", b"", NONCE, KEY),
        ("a length beyond the data", b"\xff\xff" + greeting("node2", 1, NONCE, KEY), NONCE, KEY),
    ],
)  # fmt: skip
def test_anything_else_proves_nothing(
    description: str, data: bytes, nonce: bytes, key: bytes
) -> None:
    assert read_greeting(data, nonce, key) is None
