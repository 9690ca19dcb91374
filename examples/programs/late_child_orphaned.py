"""A child started during its parent's exit sequence is never joined: it is orphaned.

The child 'Parent' starts a non-daemon thread 'Starter' and returns. On CPython 3.11 a child's
exit sequence joins its children first (multiprocessing.util._exit_function), then its threads
(threading._shutdown). 'Starter' waits until the joining of the threads has begun, then starts
the grandchild 'Late': nobody joins it any more, 'Parent' ends, and 'Late' is re-parented (to
the nearest subreaper, or init). 'Late' ends once 'Parent' is gone (bounded).

On 3.13 a child joins its threads first and its children after (from atexit): 'Late' is joined
(once it has waited PARENT_BOUND seconds for its parent's end) and nothing is orphaned; 'Late'
was then never joined by 'Parent' itself.

    python late_child_orphaned.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys
import threading
from multiprocessing.connection import Connection

PARENT_BOUND = 5.0  # 'Late' gives up waiting for its parent's end after this long

KEEP: list[Connection] = []  # the pipe's write end lives exactly as long as 'Parent'


def late(parent_alive: Connection, parent_writer: Connection) -> None:
    parent_writer.close()  # this process's copy: only 'Parent' holds the pipe open now
    ended = parent_alive.poll(PARENT_BOUND)  # readable (end of file) once 'Parent' has ended
    print(f"Late: parent ended first: {ended}", flush=True)


def start_late(method: str, reader: Connection, writer: Connection) -> None:
    threading.main_thread().join(60)  # returns once the exit sequence is joining the threads
    mp.get_context(method).Process(target=late, args=(reader, writer), name="Late").start()


def parent(method: str) -> None:
    reader, writer = mp.get_context(method).Pipe(duplex=False)
    KEEP.append(writer)
    threading.Thread(target=start_late, args=(method, reader, writer), name="Starter").start()


def main(method: str) -> None:
    ctx = mp.get_context(method)
    child = ctx.Process(target=parent, args=(method,), name="Parent")
    child.start()
    child.join()
    print(f"Parent exit code {child.exitcode}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
