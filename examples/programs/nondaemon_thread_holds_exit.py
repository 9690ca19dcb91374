"""A non-daemon thread that still works when the main program returns holds its exit.

The thread 'Writer' works about 1.5 s after the main program has returned; the exit sequence
waits for it, then the program exits 0.

    python nondaemon_thread_holds_exit.py [fork|spawn|forkserver]
"""

import sys
import threading
import time

WORK_SECONDS = 1.5


def write(main_returned: threading.Event) -> None:
    main_returned.wait(60)
    time.sleep(WORK_SECONDS)  # sleep-ok: the thread's work


def main(method: str) -> None:
    main_returned = threading.Event()
    threading.Thread(target=write, args=(main_returned,), name="Writer").start()
    print(f"main program returns ({method}: no child here)", flush=True)
    main_returned.set()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
