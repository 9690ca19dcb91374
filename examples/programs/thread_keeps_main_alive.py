"""A non-daemon thread blocked for ever keeps the main program alive after it returns.

The main program's exit sequence joins every non-daemon thread before it runs atexit; the
thread 'Waiter' waits on an Event that nobody sets: the program never ends.

    python thread_keeps_main_alive.py [fork|spawn|forkserver]
"""

import sys
import threading


def main(method: str) -> None:
    never = threading.Event()
    threading.Thread(target=never.wait, name="Waiter").start()
    print(f"main program returns ({method}: no child here)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
