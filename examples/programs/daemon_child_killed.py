"""A daemonic child still working when the main program returns is killed by its exit.

The main program's exit function (multiprocessing.util._exit_function, run by atexit) sends
SIGTERM to every live daemonic child before joining the children: the child's work is lost and
its exit code is -15.

    python daemon_child_killed.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys
import time
from multiprocessing.connection import Connection

WORK_SECONDS = 30.0


def work(started: Connection) -> None:
    started.send("working")
    time.sleep(WORK_SECONDS)  # sleep-ok: the child's work
    print("work done")  # never printed: the parent's exit terminates the child first


def main(method: str) -> None:
    ctx = mp.get_context(method)
    started, started_writer = ctx.Pipe(duplex=False)
    ctx.Process(target=work, args=(started_writer,), daemon=True, name="Worker").start()
    if not started.poll(60):
        raise SystemExit("the child did not start working within 60 s")
    print(f"child is {started.recv()}; main program returns", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
