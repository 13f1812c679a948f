"""A client that fetches a URL every 100 ms from a lab namespace and records every answer.

Runs as its own Python process inside the namespace (`ip netns exec`), one line per request
(monotonic time, status or error, body), so tests and measurement scripts read what the
client saw: who answered, which requests failed, and the longest time without an answer.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lbspeaker.lab import processes

_CLIENT = """
import sys, time, urllib.request
url, interval = sys.argv[1], float(sys.argv[2])
while True:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=interval * 5) as answer:
            body = answer.read().decode(errors="replace").strip().replace(" ", "_")
            print(f"{started:.3f} {answer.status} {body or '-'}", flush=True)
    except Exception as error:
        print(f"{started:.3f} ERR {type(error).__name__}", flush=True)
    time.sleep(max(0.0, interval - (time.monotonic() - started)))
"""


@dataclass(frozen=True)
class Answer:
    at: float  # monotonic seconds, when the request was sent
    ok: bool
    body: str


class HttpProbe:
    """Fetches `url` from inside `netns` every `interval` seconds until stopped."""

    def __init__(self, netns: str, url: str, log: Path, interval: float = 0.1) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, "-c", _CLIENT, url, str(interval)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def answers(self) -> list[Answer]:
        parsed = []
        for line in self.log.read_text().splitlines():
            at, status, *rest = [*line.split(" ", 2), ""]
            try:
                parsed.append(Answer(float(at), status == "200", rest[0]))
            except ValueError:
                continue  # a partial last line
        return parsed

    def stop(self) -> list[Answer]:
        processes.stop_child(self.process, grace_seconds=2)
        return self.answers()


def failures(answers: list[Answer]) -> int:
    return sum(not a.ok for a in answers)


def longest_gap(answers: list[Answer]) -> float:
    """The longest time between two successful answers (0 if it never failed)."""
    longest, last_ok = 0.0, None
    for answer in answers:
        if answer.ok:
            if last_ok is not None:
                longest = max(longest, answer.at - last_ok)
            last_ok = answer.at
    return longest
