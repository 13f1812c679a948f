import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from lbspeaker.metrics import Health, serve

pytestmark = pytest.mark.unit


@pytest.fixture
def endpoint() -> Iterator[tuple[Health, str]]:
    health = Health(stale_after=30)
    server = serve(0, health, address="127.0.0.1")
    yield health, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_probes_follow_the_heartbeat_and_the_readiness_callback(
    endpoint: tuple[Health, str],
) -> None:
    health, base = endpoint
    assert _get(f"{base}/healthz") == (200, "ok\n")
    health.last_beat -= 60  # the main loop stopped turning a minute ago
    status, body = _get(f"{base}/healthz")
    assert status == 503 and "silent" in body
    health.idle = lambda: True  # a standby controller waits in the election
    assert _get(f"{base}/healthz")[0] == 200
    health.ready = lambda: (False, "lease standing WarmingUp")
    assert _get(f"{base}/readyz") == (503, "lease standing WarmingUp\n")


def test_metrics_and_unknown_paths(endpoint: tuple[Health, str]) -> None:
    _, base = endpoint
    status, body = _get(f"{base}/metrics")
    assert status == 200 and "python_info" in body
    assert _get(f"{base}/nope")[0] == 404
