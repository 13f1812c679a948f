"""ExaBGP as a supervised child: configuration file, restarts with backoff, the API pipe.

ExaBGP dies with the speaker: it gets SIGKILL when the supervisor thread that forked it
exits (PR_SET_PDEATHSIG), and it exits by itself when the API relay's socket closes
(exabgp.api.terminate). Killed or crashed, it is restarted with exponential backoff, and
`on_connected` fires once its API relay connects so the owner re-announces everything.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import Counter

from lbspeaker.bgp.api_commands import Ack, Message, parse_message
from lbspeaker.bgp.reload import ReloadTracker

log = logging.getLogger(__name__)

RELOAD_RESENDS = Counter(
    "lbspeaker_bgp_exabgp_reload_resends_total",
    "SIGUSR1 sent again because ExaBGP had not started the reload (see reload.py)",
)

_PR_SET_PDEATHSIG = 1
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STABLE_RUN = 60.0  # a run this long resets the backoff


def _die_with_parent() -> None:
    # prctl(2): SIGKILL when the parent *thread* exits; the supervisor thread forks and lives
    # as long as ExaBGP should.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def exabgp_binary() -> str:
    """The `exabgp` next to this Python (the virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("exabgp")
    return str(beside) if beside.exists() else "exabgp"


def exabgp_environment(log_level: str = "INFO") -> dict[str, str]:
    """ExaBGP's settings, as environment variables (LAB-NOTES: ExaBGP 5.0.15 pitfalls)."""
    return {
        # Started as root it would drop to `nobody` and lose its API helper.
        "exabgp.daemon.user": pwd.getpwuid(os.getuid()).pw_name,
        "exabgp.daemon.drop": "false",
        # Acks are read (they pace shutdown's withdrawals); unread they block ExaBGP.
        "exabgp.api.ack": "true",
        "exabgp.api.cli": "false",
        # Never respawn the relay: a respawned relay would keep our routes announced.
        "exabgp.api.respawn": "false",
        "exabgp.api.terminate": "true",
        "exabgp.reactor.speed": "5.0",
        # INFO for "performing reload" (see reload.py); without the per-route lines of the
        # API ("processes") and the periodic counters ("statistics").
        "exabgp.log.level": log_level,
        "exabgp.log.processes": "false",
        "exabgp.log.statistics": "false",
        "exabgp.log.destination": "stdout",
    }


class ExaBGP:
    """One ExaBGP process at a time, with its configuration in a private directory."""

    def __init__(
        self,
        directory: Path,
        on_message: Callable[[Message], None],
        on_connected: Callable[[], None],
        on_exit: Callable[[int | None], None] = lambda code: None,
    ) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        self.config_path = directory / "exabgp.conf"
        self.socket_path = directory / "api.sock"
        self.on_message = on_message
        self.on_connected = on_connected
        self.on_exit = on_exit
        # Reentrant: the speaker may call stop()/send() from a signal handler that interrupted
        # its own thread inside send().
        self.lock = threading.RLock()
        self.process: subprocess.Popen[bytes] | None = None
        self.connection: socket.socket | None = None
        self.outbox: collections.deque[list[str]] = collections.deque()
        self.outbox_ready = threading.Condition(self.lock)
        self.in_flight: collections.deque[str] = collections.deque()
        self.sent = 0
        self.acked = 0
        self.restarts = 0
        self.stopping = threading.Event()
        self.configured = threading.Event()
        self.supervisor = threading.Thread(target=self._supervise, name="exabgp", daemon=True)
        self.writer = threading.Thread(target=self._write_loop, name="exabgp-api", daemon=True)
        self.reloader = threading.Thread(
            target=self._reload_loop, name="exabgp-reload", daemon=True
        )
        self.reload = ReloadTracker()

    @property
    def api_command(self) -> str:
        relay = Path(__file__).with_name("bridge.py")
        return shlex.join([sys.executable, "-I", str(relay), str(self.socket_path)])

    # -- control, from the owner's thread ------------------------------------------------

    def configure(self, text: str) -> None:
        """Writes the configuration (0600); a running ExaBGP reloads it (SIGUSR1)."""
        temporary = self.config_path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, self.config_path)
        if not self.configured.is_set():
            self.configured.set()
            self.supervisor.start()
            self.writer.start()
            self.reloader.start()
            return
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.reload.written()
                self._signal_reload()

    def _signal_reload(self) -> None:
        """SIGUSR1 when the tracker says so (see reload.py). Called with the lock."""
        process, now = self.process, time.monotonic()
        ready = process is not None and process.poll() is None and self.connection is not None
        if process is None or not self.reload.due(now, ready):
            return
        if self.reload.signalled(now):
            log.warning("exabgp has not started the reload; signalling again pid=%s", process.pid)
            RELOAD_RESENDS.inc()
        else:
            log.info("reloading exabgp configuration pid=%s", process.pid)
        process.send_signal(signal.SIGUSR1)

    def send(self, commands: Iterable[str]) -> bool:
        """Queues commands for ExaBGP; False (nothing queued) while no API is connected."""
        batch = list(commands)
        with self.lock:
            if self.connection is None:
                return False
            if batch:
                self.outbox.append(batch)
                self.outbox_ready.notify()
            return True

    def flush(self, timeout: float) -> bool:
        """Waits until ExaBGP acknowledged every queued command (or the API went away)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.connection is None or (not self.outbox and self.acked >= self.sent):
                    return True
            time.sleep(0.01)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (ExaBGP sends a Cease NOTIFICATION), SIGKILL after `timeout`."""
        self.stopping.set()
        with self.lock:
            process = self.process
            self.outbox_ready.notify_all()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.supervisor.is_alive():
            self.supervisor.join(timeout)

    # -- threads -------------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self.stopping.is_set():
                break
            self.restarts += 1
            self.on_exit(code)
            if time.monotonic() - started > STABLE_RUN:
                backoff = BACKOFF_FIRST
            log.warning("exabgp exited code=%s restarting_in=%.1fs", code, backoff)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _run_once(self) -> int | None:
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        listener.listen(1)
        listener.settimeout(1.0)
        # Own stdout pipe: ExaBGP's log lines go to ours, never the routes' details at INFO.
        process = subprocess.Popen(
            [exabgp_binary(), "server", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **exabgp_environment()},
            preexec_fn=_die_with_parent,  # noqa: PLW1509 -- prctl must run in the child
        )
        with self.lock:
            self.process = process
            self.reload.restarted()
        threading.Thread(target=self._relay_log, args=(process,), daemon=True).start()
        log.info("exabgp started pid=%s", process.pid)
        connection = None
        try:
            while connection is None and process.poll() is None and not self.stopping.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
            if connection is not None:
                self._serve(connection)
        finally:
            listener.close()
            with self.lock:
                self.connection = None
                self.outbox.clear()
                self.in_flight.clear()
                self.acked = self.sent
            if connection is not None:
                connection.close()
            if process.poll() is None and not self.stopping.is_set():
                process.kill()
            if not self.stopping.is_set():
                process.wait()
        return process.returncode

    def _serve(self, connection: socket.socket) -> None:
        with self.lock:
            self.connection = connection
        log.info("exabgp api connected")
        self.on_connected()
        for raw in connection.makefile("rb"):
            message = parse_message(raw.decode("utf-8", "replace"))
            if isinstance(message, Ack):
                with self.lock:
                    self.acked += 1
                    command = self.in_flight.popleft() if self.in_flight else "?"
                if not message.ok:
                    log.warning("exabgp refused command=%r", command)
                continue
            if message is not None:
                self.on_message(message)

    def _write_loop(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                while not self.outbox and not self.stopping.is_set():
                    self.outbox_ready.wait(1.0)
                if self.stopping.is_set():
                    return
                batch = self.outbox.popleft()
                connection = self.connection
                if connection is None:
                    continue
                self.in_flight.extend(batch)
                self.sent += len(batch)
            try:
                connection.sendall(("\n".join(batch) + "\n").encode())
            except OSError as error:
                log.warning("exabgp api write failed error=%s", error)

    def _reload_loop(self) -> None:
        while not self.stopping.wait(self.reload.retry_after / 4):
            with self.lock:
                self._signal_reload()

    def _relay_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            with self.lock:
                if self.process is process:
                    self.reload.log_line(line)
            log.info("exabgp pid=%s %s", process.pid, line)
