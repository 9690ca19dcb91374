"""The driver's end of the wire: one listening socket, one connection per agent.

Single-threaded and event-driven: every wait is a ``select`` over the listener, the agent
connections and any extra fds (pidfds), bounded by a deadline. A connection's EOF means
its process's descriptors are closed: the process has died (or is dying).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from proclife.runtime.errors import HarnessError
from proclife.runtime.osproc import remaining
from proclife.runtime.protocol import LineBuffer, Message, encode


@dataclass(frozen=True)
class Watched:
    """Another stream the hub reads whenever it is readable (the observers' FIFO)."""

    read: Callable[[], object]


@dataclass
class Conn:
    sock: socket.socket
    buffer: LineBuffer = field(default_factory=LineBuffer)
    ident: int | None = None


class Hub:
    """Accepts agents, reads their hellos and acks, notices their EOFs."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(address)
        self.listener.listen(128)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.conns: dict[int, Conn] = {}
        self.hellos: dict[int, Message] = {}
        self.acks: dict[int, Message] = {}
        self.ended: set[int] = set()
        self.faults: list[str] = []

    def watch(self, fd: int, read: Callable[[], object]) -> None:
        """Call ``read()`` whenever ``fd`` is readable, in every wait."""
        self.selector.register(fd, selectors.EVENT_READ, Watched(read))

    def pump_now(self) -> None:
        """Take in whatever has already arrived, without waiting."""
        self._drain()

    def send(self, ident: int, message: Message) -> bool:
        """False if the agent's connection is already gone."""
        conn = self.conns.get(ident)
        if conn is None or ident in self.ended:
            return False
        try:
            conn.sock.sendall(encode(message))
        except OSError:
            return False
        return True

    def wait(self, done: Callable[[], bool], deadline: float, extra: tuple[int, ...] = ()) -> bool:
        """Process traffic until ``done()`` or an ``extra`` fd is readable; False at the deadline."""
        keys = [self.selector.register(fd, selectors.EVENT_READ, "extra") for fd in extra]
        try:
            while not done():
                if not self._pump(remaining(deadline)):
                    return done()
            return True
        finally:
            for key in keys:
                self.selector.unregister(key.fd)

    def _pump(self, timeout: float) -> bool:
        """One round of traffic; False when the round timed out or an extra fd fired."""
        events = self.selector.select(timeout)
        served = [self._serve(key) for key, _ in events]
        if not all(served):
            self._drain()  # the process behind the extra fd ended: take in what it sent first
            return False
        return bool(events)

    def _drain(self) -> None:
        while True:
            served = [self._serve(key) for key, _ in self.selector.select(0)]
            if not any(served):
                return

    def _serve(self, key: selectors.SelectorKey) -> bool:
        """Accept or read; False for an extra fd, which only ends a wait."""
        if key.data == "extra":
            return False
        if isinstance(key.data, Watched):
            key.data.read()
        elif key.data is None:
            self._accept()
        else:
            self._read(key.data)
        return True

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        conn = Conn(sock)
        self.selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        for message in conn.buffer.feed(data):
            if message.get("type") == "hello":
                ident = int(message["id"])
                if ident in self.conns:
                    raise HarnessError(f"two agents said they are P{ident} (pids "
                                       f"{self.hellos[ident]['pid']} and {message['pid']})")
                conn.ident = ident
                self.conns[ident] = conn
                self.hellos[ident] = message
            elif message.get("type") == "ack":
                self.acks[int(message["seq"])] = message
            elif message.get("type") == "fault":
                self.faults.append(f"P{conn.ident}: {message['error']}")

    def _drop(self, conn: Conn) -> None:
        self.selector.unregister(conn.sock)
        conn.sock.close()
        if conn.ident is not None:
            self.ended.add(conn.ident)

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, Watched):
                continue  # its owner closes it
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
