"""When to signal ExaBGP to reload its configuration, and when a reload is confirmed. Pure.

ExaBGP 5.0.15 drops a SIGUSR1 that arrives while updates are queued for a session: it re-arms
the signal before it checks the queue, then skips the reload. So a signal is resent until
ExaBGP's log shows it reloading. Its log also says "performing reload" at start-up, which may
have read the file before our last write: only a reload logged after ExaBGP logged receiving
a signal we sent confirms ours. The caller is the clock and feeds ExaBGP's log lines in order.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNAL_RECEIVED = "SIGUSR1 received"
RELOAD_STARTED = "performing reload"


@dataclass
class ReloadTracker:
    """One ExaBGP process's reload state; `restarted()` for each new process."""

    retry_after: float = 2.0
    pending: bool = False  # a written configuration awaits a confirmed reload
    signalled_at: float | None = None  # when the signal was last sent for it
    signal_received: bool = False  # ExaBGP logged a signal since our last one
    resent: int = 0

    def written(self) -> None:
        """A new configuration file is in place."""
        self.pending = True
        self.signalled_at = None
        self.signal_received = False

    def restarted(self) -> None:
        """A new ExaBGP process reads the current file at start: nothing awaits a reload."""
        self.pending = False
        self.signalled_at = None
        self.signal_received = False

    def due(self, now: float, ready: bool) -> bool:
        """Whether to send SIGUSR1 now; `ready`: ExaBGP runs and its API is connected (before
        that its handler may be missing, and SIGUSR1's default action kills it)."""
        if not (ready and self.pending):
            return False
        return self.signalled_at is None or now - self.signalled_at >= self.retry_after

    def signalled(self, now: float) -> bool:
        """Records a signal sent at `now`; True if it repeats one ExaBGP did not act on."""
        resend = self.signalled_at is not None
        self.resent += resend
        self.signalled_at = now
        self.signal_received = False
        return resend

    def log_line(self, line: str) -> None:
        if SIGNAL_RECEIVED in line:
            self.signal_received = self.signalled_at is not None
        elif RELOAD_STARTED in line and self.signal_received:
            self.pending = False
            self.signalled_at = None
            self.signal_received = False
