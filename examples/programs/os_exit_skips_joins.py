"""os._exit skips the whole exit sequence: no thread is joined, no child joined or terminated.

The main program leaves a live non-daemon child 'Survivor' and a non-daemon thread 'Blocked'
(waiting for an Event nobody sets), then calls os._exit(0): the thread dies with the process,
the child is orphaned. 'Survivor' ends once its parent is gone (bounded).

    python os_exit_skips_joins.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import os
import sys
import threading
from multiprocessing.connection import Connection

PARENT_BOUND = 10.0  # 'Survivor' gives up waiting for its parent's end after this long


def survive(parent_alive: Connection, parent_writer: Connection, started: Connection) -> None:
    parent_writer.close()  # this process's copy: only the main program holds the pipe open now
    started.send("up")
    ended = parent_alive.poll(PARENT_BOUND)  # readable (end of file) once the parent has ended
    print(f"Survivor: parent ended first: {ended}", flush=True)


def main(method: str) -> None:
    ctx = mp.get_context(method)
    reader, writer = ctx.Pipe(duplex=False)
    started, started_writer = ctx.Pipe(duplex=False)
    ctx.Process(target=survive, args=(reader, writer, started_writer), name="Survivor").start()
    if not started.poll(60):
        raise SystemExit("the child did not start within 60 s")
    never = threading.Event()
    threading.Thread(target=never.wait, name="Blocked").start()
    print("main program calls os._exit(0)", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
