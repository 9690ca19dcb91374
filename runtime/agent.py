"""The program inside every real process of a run: it performs the driver's commands.

Each agent holds its own connection to the driver. A daemonic control thread reads the
commands and hands each to the thread that must perform it (the main thread, or worker
thread j), so the model's "which thread acts" is real; the performing thread acknowledges.
The connection is also the lifeline: when the driver goes away, the agent ``os._exit``s.

Version fact: Python 3.12 and later emit a DeprecationWarning when ``os.fork()`` runs in a
process with more than one thread, which every agent is (its control thread). The agent
forks only while the control thread waits in ``recv`` holding no lock, so the warning is
filtered here on purpose; ``hello`` reports the Python version so a run records it.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable

from proclife.runtime import observer
from proclife.runtime.exitstatus import sigterm_disposition, status_of
from proclife.runtime.impls import resolve_impl
from proclife.runtime.protocol import (
    ACK,
    LIFELINE_EXIT,
    LineBuffer,
    Message,
    canonical_exception,
    canonical_value,
    encode,
)

TYPE_CHECKING = False  # typing itself costs every fresh interpreter a few milliseconds
if TYPE_CHECKING:
    from typing import Any, ClassVar

warnings.filterwarnings(
    "ignore",
    message=r"This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to deadlocks",
    category=DeprecationWarning,
)

END_EVENTS = frozenset({"target_return", "target_raise", "sys_exit", "os_exit"})
SIGTERM_HANDLERS = frozenset({"ignore", "exit", "default"})
CALLS = frozenset({
    "start", "join", "join_timeout", "is_alive", "exitcode", "pid", "sentinel",
    "set_daemon", "terminate", "kill", "close",
})

CONTROL_OPS = frozenset({"release", "thread_release", "thread_finish", "statuses"})

_AGENT: Agent | None = None

# A spawn or forkserver child is a fresh interpreter that imports this module while it unpickles
# its Process, before ``_bootstrap`` runs: the observer the main program exported starts here, so
# the child reports its whole life. (A fork child inherits its parent's observer.)
observer.install_from_environment()


class CommandError(Exception):
    """A command the agent cannot perform: a harness fault, reported to the driver."""


class Ending:
    """How the main thread leaves its target once it has acknowledged ``end``."""

    __slots__ = ("arg", "event")

    def __init__(self, event: str, arg: Any) -> None:
        self.event = event
        self.arg = arg


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """The "exit" SIGTERM handler: a full, orderly exit with status 3."""
    sys.exit(3)


class Worker:
    """Thread j of the model: a thread that performs commands from its own queue."""

    def __init__(self, agent: Agent, index: int, daemon: bool) -> None:
        self.queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.block: threading.Event | None = None
        self.thread = threading.Thread(
            target=agent.worker_loop, args=(index,), daemon=daemon, name=f"proclife-T{index}"
        )


def _exiting() -> bool:
    """The exit function (``util._exit_function``) has begun in this process, in any family's util."""
    return any(getattr(sys.modules.get(name), "_exiting", False)
               for name in (f"{family}.util" for family in observer.FAMILIES))


class Feeder:
    """Thread j of the model when it is a Queue's feeder thread: the queue's own thread, which never
    performs a command. The put is larger than a pipe holds (64 KiB on Linux), so the feeder stays
    blocked in ``send_bytes`` until a reader takes it."""

    PAYLOAD = b"x" * (1 << 20)

    def __init__(self, ctx: Any) -> None:
        from multiprocessing.connection import Connection

        self.q = ctx.Queue()
        # The reader reads through a descriptor of its own: at exit the feeder closes the queue's
        # reader (Queue._feed, on its close sentinel) as soon as its send returns, which can be
        # while a get() in this process still reads the message's tail.
        self.reader = Connection(os.dup(self.q._reader.fileno()), writable=False)
        self.q.put(self.PAYLOAD)
        self.thread = self.q._thread  # started by the put (Queue._start_thread)
        self.block: threading.Event | None = None

    def drain(self, timeout: float) -> None:
        """Read what the feeder holds: once the whole message is read, its send_bytes has returned too."""
        if not self.reader.poll(timeout):
            raise CommandError(f"nothing to read from the queue within {timeout}s")
        if len(self.reader.recv_bytes()) < len(self.PAYLOAD):
            raise CommandError("the queue gave back less than was put")


class Agent:
    """One process's side of the protocol: the handles it owns and the threads it runs."""

    def __init__(self, spec: str, address: str, ident: int) -> None:
        self.spec = spec
        self.address = address
        self.ident = ident
        impl = resolve_impl(spec)
        self.ctx = impl.context()
        self.forkserver = impl.start_method == "forkserver"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(address)
        self.send_lock = threading.Lock()
        self.main_queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.handles: dict[int, Any] = {}
        self.workers: list[Worker | Feeder] = []
        self.main_block: threading.Event | None = None
        self.send({"type": "hello", "id": ident, "pid": os.getpid(), "python": ".".join(map(str, sys.version_info[:3])),
                   "sigterm": sigterm_disposition(_exit_on_sigterm)})
        self.control = threading.Thread(target=self.control_loop, daemon=True, name="proclife-control")
        self.control.start()

    # --- the wire --------------------------------------------------------------------

    def send(self, message: Message) -> None:
        data = encode(message)
        try:
            with self.send_lock:
                self.sock.sendall(data)
        except OSError:
            os._exit(LIFELINE_EXIT)

    def ack(self, cmd: Message, observed: str, **extra: Any) -> None:
        self.send({"type": "ack", "seq": cmd["seq"], "observed": observed, **extra})

    def fail(self, cmd: Message, exc: BaseException) -> None:
        self.send({"type": "ack", "seq": cmd["seq"], "observed": "", "error": canonical_exception(exc)})

    def abandon(self) -> None:
        """Close a connection inherited through fork, so the parent's death stays visible."""
        self.sock.close()

    # --- the control thread ------------------------------------------------------------

    def control_loop(self) -> None:
        # The harness's own thread takes none of the signals the model sends the process: the kernel
        # gives a process's signal to any thread that does not block it, and a SIGINT taken here
        # waits for the main thread to wake (blocked in a lock, it may never), as a program's would not.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        buffer = LineBuffer()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                os._exit(LIFELINE_EXIT)  # the driver is gone: leave nothing running
            for cmd in buffer.feed(data):
                try:
                    self.route(cmd)
                except Exception as exc:
                    self.fail(cmd, exc)

    def route(self, cmd: Message) -> None:
        where = cmd["thread"]
        if where == "control":
            self.control_op(cmd)
        elif where == "main":
            self.main_queue.put(cmd)
        else:
            self.worker(int(where)).queue.put(cmd)

    def worker(self, index: int) -> Worker:
        """Thread ``index``, which performs commands (a feeder thread performs none)."""
        found = self.thread_at(index)
        if isinstance(found, Feeder):
            raise CommandError(f"P{self.ident}.T{index} is a Queue's feeder thread; it performs no command")
        return found

    def thread_at(self, index: int) -> Worker | Feeder:
        if not 0 <= index < len(self.workers):
            raise CommandError(f"P{self.ident} has no thread T{index} (it has {len(self.workers)})")
        return self.workers[index]

    def control_op(self, cmd: Message) -> None:
        """Releases come from another thread; joining a finished thread is bounded; statuses are read here
        so that a main thread blocked or inside its exit sequence still answers."""
        op = cmd["op"]
        if op == "statuses":
            self.ack(cmd, ACK, statuses=self.statuses(cmd["children"], cmd["timeout"]))
            return
        if op == "release":
            if self.main_block is None:
                raise CommandError(f"P{self.ident}'s main thread is not blocked")
            self.main_block.set()
            self.main_block = None
        elif op == "thread_release" and isinstance(self.thread_at(cmd["worker"]), Feeder):
            feeder = self.thread_at(cmd["worker"])
            if not _exiting():  # read, then answer: the next step meets the feeder flushed
                feeder.drain(cmd["timeout"])  # type: ignore[union-attr]
                self.ack(cmd, ACK)
                return
            # In the exit function the finalizers may be joining the feeder: once it has written its
            # message the process may end at once, so the answer goes first. The commands after it
            # wait behind this thread.
            self.ack(cmd, ACK, note="about to read the queue")
            try:
                feeder.drain(cmd["timeout"])  # type: ignore[union-attr]
            except Exception as exc:
                self.send({"type": "fault", "error": f"P{self.ident}.T{cmd['worker']}: reading its queue "
                           f"failed: {canonical_exception(exc)}"})
            return
        elif op == "thread_release":
            worker = self.worker(cmd["worker"])
            if worker.block is None:
                raise CommandError(f"P{self.ident}.T{cmd['worker']} is not blocked")
            worker.block.set()
            worker.block = None
        elif op == "thread_finish":
            # The worker acknowledges as its last act: once it returns, the process may end
            # at once (it may have been the last non-daemon thread), so no later ack is sure
            # to leave. Joining it here keeps later commands behind its real end.
            worker = self.worker(cmd["worker"])
            worker.queue.put(cmd)
            worker.thread.join(cmd["timeout"])
            if worker.thread.is_alive():
                self.send({"type": "fault", "error": f"P{self.ident}.T{cmd['worker']} did not "
                           f"return within {cmd['timeout']}s of thread_finish"})
            return
        else:
            raise CommandError(f"the control thread does not perform {op!r}")
        self.ack(cmd, ACK)

    def statuses(self, children: list[int], timeout: float) -> dict[str, list[Any]]:
        """The exit status of each ended child asked for, with how it was read; a child not readable is left out."""
        out: dict[str, list[Any]] = {}
        for ident in children:
            handle = self.handles.get(int(ident))
            read = None if handle is None else status_of(handle, self.forkserver, timeout)
            if read is not None:
                out[str(ident)] = list(read)
        return out

    # --- performing threads ------------------------------------------------------------

    def serve(self) -> Ending:
        """The main thread's loop: perform commands until one ends the target."""
        while True:
            cmd = self.main_queue.get()
            if cmd["op"] == "block":
                event = threading.Event()
                self.main_block = event
                self.ack(cmd, ACK, note="about to block")
                event.wait()
                continue
            ending = self.perform(cmd)
            if ending is not None:
                return ending

    def worker_loop(self, index: int) -> None:
        worker = self.worker(index)
        while True:
            cmd = worker.queue.get()
            if cmd["op"] == "thread_finish":
                self.ack(cmd, ACK)
                return
            if cmd["op"] == "thread_block":
                event = threading.Event()
                worker.block = event
                self.ack(cmd, ACK, note="about to block")
                event.wait()
                continue
            if self.perform(cmd) is not None:
                return

    def perform(self, cmd: Message) -> Ending | None:
        op = cmd["op"]
        handler = self.OPS.get(op)
        try:
            if op == "end":
                if cmd["event"] not in END_EVENTS:
                    raise CommandError(f"cannot end a target by {cmd['event']!r}")
                if threading.current_thread() is not threading.main_thread():
                    raise CommandError("only the main thread ends the target")
                self.ack(cmd, ACK)  # before ending: afterwards the agent may be gone
                return Ending(cmd["event"], cmd.get("arg"))
            if handler is None:
                raise CommandError(f"P{self.ident} does not know the command {op!r}")
            observed, extra = handler(self, cmd)
        except Exception as exc:
            self.fail(cmd, exc)
            return None
        self.ack(cmd, observed, **extra)
        return None

    # --- the commands ------------------------------------------------------------------

    def op_call(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        """A Process API call on a child's handle; its result or exception is the observation."""
        method, target = cmd["method"], cmd["target"]
        if method not in CALLS:
            raise CommandError(f"no Process API call is named {method!r}")
        if target not in self.handles:
            raise CommandError(f"P{self.ident} holds no handle of P{target}")
        p = self.handles[target]
        try:
            value = self._invoke(p, method, cmd)
        except Exception as exc:
            return canonical_exception(exc), {}
        extra = {"pid": p.pid} if method == "start" else {}
        return canonical_value(method, value), extra

    @staticmethod
    def _invoke(p: Any, method: str, cmd: Message) -> object:
        if method == "join_timeout":
            return p.join(timeout=cmd["timeout"])
        if method == "set_daemon":
            p.daemon = cmd["arg"]
            return None
        if method in ("exitcode", "pid", "sentinel"):
            return getattr(p, method)
        return getattr(p, method)()

    def op_create_child(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        """Process(target=..., **kwargs): without daemon= it copies current_process()'s flag."""
        ident = int(cmd["child"])
        self.handles[ident] = self.ctx.Process(
            target=child_main, args=(self.spec, self.address, ident), **cmd["kwargs"]
        )
        return ACK, {}

    def op_create_thread(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        """Thread(daemon=...) made in the acting thread: without daemon= (None, Thread's own default) it takes
        current_thread().daemon, the flag of the thread the model says acts."""
        if int(cmd["worker"]) != len(self.workers):
            raise CommandError(f"P{self.ident} would create T{len(self.workers)}, not T{cmd['worker']}")
        self.workers.append(Worker(self, len(self.workers), cmd["kwargs"].get("daemon")))
        return ACK, {}

    def op_queue_put(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        """q = Queue(); q.put(more than its pipe holds), in the acting thread: the feeder thread starts."""
        if int(cmd["worker"]) != len(self.workers):
            raise CommandError(f"P{self.ident}'s feeder would be T{len(self.workers)}, not T{cmd['worker']}")
        self.workers.append(Feeder(self.ctx))
        return ACK, {}

    def op_cancel_join_thread(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        feeder = self.thread_at(int(cmd["worker"]))
        if not isinstance(feeder, Feeder):
            raise CommandError(f"P{self.ident}.T{cmd['worker']} is no Queue's feeder thread")
        feeder.q.cancel_join_thread()
        return ACK, {}

    def op_register_atexit(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        """threading._register_atexit(callback): at threading._shutdown() the callback releases thread j,
        in this process only (a fork child inherits the list of callbacks, not the thread)."""
        worker, me = self.worker(int(cmd["worker"])), os.getpid()

        def release() -> None:
            if os.getpid() == me and worker.block is not None:
                worker.block.set()
                worker.block = None

        threading._register_atexit(release)  # type: ignore[attr-defined]
        return ACK, {}

    def op_thread_start(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        self.worker(int(cmd["worker"])).thread.start()
        return ACK, {}

    def op_install_sigterm(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        handler = cmd["arg"]
        if handler not in SIGTERM_HANDLERS:
            raise CommandError(f"unknown SIGTERM handler {handler!r}; known: {sorted(SIGTERM_HANDLERS)}")
        actions: dict[str, Any] = {
            "ignore": signal.SIG_IGN, "exit": _exit_on_sigterm, "default": signal.SIG_DFL,
        }
        signal.signal(signal.SIGTERM, actions[handler])
        return ACK, {"sigterm": sigterm_disposition(_exit_on_sigterm)}

    def op_join_current(self, cmd: Message) -> tuple[str, dict[str, Any]]:
        current = getattr(self.ctx, "current_process", None)
        if current is None:
            import multiprocessing

            current = multiprocessing.current_process
        try:
            value = current().join()
        except Exception as exc:
            return canonical_exception(exc), {}
        return repr(value), {}

    OPS: ClassVar[dict[str, Callable[[Agent, Message], tuple[str, dict[str, Any]]]]] = {
        "call": op_call,
        "create_child": op_create_child,
        "create_thread": op_create_thread,
        "thread_start": op_thread_start,
        "queue_put": op_queue_put,
        "cancel_join_thread": op_cancel_join_thread,
        "register_atexit": op_register_atexit,
        "install_sigterm": op_install_sigterm,
        "join_current": op_join_current,
    }


# Every operation a command may ask for: the table above, ending the target, blocking (the
# performing thread's loop), and what the control thread does. The driver checks a model's
# events against this before a run.
OPERATIONS: frozenset[str] = frozenset(Agent.OPS) | {"end", "block", "thread_block"} | CONTROL_OPS


def finish(ending: Ending) -> None:
    """Leave the target the way the model's end event says, with the path's JSON value as the argument."""
    if ending.event == "target_raise":
        raise RuntimeError("the target raised, as the driver asked")
    if ending.event == "sys_exit":
        sys.exit(ending.arg)
    if ending.event == "os_exit":
        os._exit(ending.arg)  # the path's value as it is: a float or None raises TypeError here, in the target


def _become(spec: str, address: str, ident: int) -> Agent:
    global _AGENT
    inherited, _AGENT = _AGENT, None
    if inherited is not None:
        inherited.abandon()
    _AGENT = Agent(spec, address, ident)
    return _AGENT


def child_main(spec: str, address: str, ident: int) -> None:
    """The target of every Process the run creates: model process ``ident``."""
    finish(_become(spec, address, ident).serve())


def _arguments(argv: list[str]) -> dict[str, str]:
    """``--impl SPEC --address PATH [--id N] [--events PATH]`` (the driver's own command line for
    the main program; argparse would cost every run's fresh interpreter a few milliseconds)."""
    names = {"--impl", "--address", "--id", "--events"}
    if len(argv) % 2 or any(flag not in names for flag in argv[::2]):
        sys.exit(f"usage: python -m proclife.runtime.agent --impl SPEC --address PATH [--id N] [--events PATH]; "
                 f"got {' '.join(argv)}")
    args = {flag[2:]: value for flag, value in zip(argv[::2], argv[1::2], strict=True)}
    if "impl" not in args or "address" not in args:
        sys.exit("python -m proclife.runtime.agent needs --impl and --address")
    return args


def main(argv: list[str] | None = None) -> None:
    """The main program of a fresh interpreter: model process 0."""
    # The model's main program starts from Python's own SIGINT and SIGTERM dispositions,
    # whatever the driver inherited (a shell's `&` or a CI runner ignores them, a mask blocks).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    args = _arguments(sys.argv[1:] if argv is None else argv)
    if args.get("events"):
        observer.install(args["events"], families=(resolve_impl(args["impl"]).family,))
    finish(_become(args["impl"], args["address"], int(args.get("id", "0"))).serve())


if __name__ == "__main__":
    from proclife.runtime.agent import main as _main  # the importable copy, so children pickle by name

    _main()
