"""A daemon thread of the main program starts a non-daemon thread once threading._shutdown() is over.

Py_FinalizeEx runs atexit after the thread joins, so an atexit handler marks the moment. The
late thread waits forever: if anything joined it, this program would hang. Prints one line,
``started`` or the exception Thread.start() raised, and ends.
"""

import atexit
import threading

go, answered, never = threading.Event(), threading.Event(), threading.Event()
answer: list[str] = []


def late() -> None:
    never.wait()


def daemon() -> None:
    go.wait()
    try:
        threading.Thread(target=late, daemon=False).start()
        answer.append("started")
    except RuntimeError as exc:
        answer.append(f"RuntimeError: {exc}")
    answered.set()


def after_thread_shutdown() -> None:
    go.set()
    if not answered.wait(10):
        answer.append("no answer from the daemon thread within 10 s")
    print(answer[0], flush=True)


threading.Thread(target=daemon, daemon=True).start()
atexit.register(after_thread_shutdown)
