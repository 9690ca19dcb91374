"""docs/semantics.md E11. The exit sequence's finalizers and threading's exit callbacks, per start method.

Run with the venv's interpreter: ``python docs/experiments/e11_finalizers.py [fork spawn forkserver]``.
Every wait is bounded; a process that is still alive when its bound expires is reported and killed.
"""
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import threading
from multiprocessing import util

BIG = b"x" * (1 << 20)  # more than a pipe holds (64 KiB)


def putter(q, cancel):
    if cancel:
        q.cancel_join_thread()
    q.put(BIG)


def order_child(conn):
    """Marks, in order: a finalizer of priority 10, a daemonic grandchild's SIGTERM, the join of a
    non-daemon grandchild, a finalizer of priority -5."""
    util.Finalize(None, conn.send, args=("finalizer priority 10",), exitpriority=10)
    util.Finalize(None, conn.send, args=("finalizer priority -5",), exitpriority=-5)
    ready = mp.Event()
    mp.Process(target=_grandchild, args=(conn, "daemonic grandchild got SIGTERM", ready), daemon=True).start()
    mp.Process(target=_grandchild, args=(conn, None, None), daemon=False).start()
    assert ready.wait(10), "the daemonic grandchild did not install its SIGTERM handler within 10 s"


def _grandchild(conn, on_sigterm, ready):
    import signal
    import time

    if on_sigterm:
        signal.signal(signal.SIGTERM, lambda *a: (conn.send(on_sigterm), os._exit(0)))
        ready.set()
        time.sleep(30)  # sleep-ok: a worker that would outlive its parent; SIGTERM ends it
    else:
        time.sleep(0.5)  # sleep-ok: still running when its parent's exit sequence joins it
        conn.send("non-daemon grandchild ended (its join returns)")


def queue_rows(ctx):
    for cancel in (False, True):
        q = ctx.Queue()
        p = ctx.Process(target=putter, args=(q, cancel))
        p.start()
        p.join(3)
        held = p.is_alive()
        got = len(q.get(timeout=10)) if held else None
        p.join(10)
        print(f"  child put 1 MiB, cancel_join_thread={cancel}: alive 3 s after its target returned: {held}; "
              f"after the parent read it: exit code {p.exitcode}" + (f" (read {got} bytes)" if got else ""))


def order_rows(ctx):
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=order_child, args=(send,))
    p.start()
    p.join(20)
    marks = []
    while recv.poll(1):
        marks.append(recv.recv())
    print(f"  the child's exit sequence, in order: {marks}; exit code {p.exitcode}")


MAIN_PUTS = """
import multiprocessing as mp, sys
if __name__ == "__main__":
    q = mp.get_context(sys.argv[1]).Queue()
    if sys.argv[2] == "cancel":
        q.cancel_join_thread()
    q.put(b"x" * (1 << 20))
"""

MAIN_ATEXIT = """
import sys, threading
release = threading.Event()
threading.Thread(target=release.wait, daemon=False).start()
if sys.argv[2] == "register":
    threading._register_atexit(release.set)
"""


def main_rows(method):
    for label, code, arg in (("main program put 1 MiB", MAIN_PUTS, "plain"),
                             ("main program put 1 MiB, cancel_join_thread", MAIN_PUTS, "cancel"),
                             ("main program's non-daemon thread blocked", MAIN_ATEXIT, "plain"),
                             ("the same, a _register_atexit callback releases it", MAIN_ATEXIT, "register")):
        try:
            done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), method, arg], timeout=5)
            print(f"  {label}: exit status {done.returncode}")
        except subprocess.TimeoutExpired:
            print(f"  {label}: still alive after 5 s (killed)")


if __name__ == "__main__":
    print(sys.version.split()[0])
    for method in sys.argv[1:] or ("fork", "spawn", "forkserver"):
        print(method)
        ctx = mp.get_context(method)
        mp.set_start_method(method, force=True)
        queue_rows(ctx)
        order_rows(ctx)
        main_rows(method)
    assert threading.active_count() == 1
