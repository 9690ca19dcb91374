"""The queue-join deadlock avoided with ``cancel_join_thread()``, and what it costs.

The child puts an item larger than the pipe's buffer on a Queue, then cancels the join of the
queue's feeder thread: its exit no longer waits for a reader, so the parent's join() returns.
The item is lost: the feeder dies with the child before writing it all (the parent's get()
finds nothing within its timeout). The programming guidelines recommend this only when losing
the data does not matter.

    python queue_cancel_join.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import queue as queue_module
import sys

ITEM_BYTES = 1 << 20  # 1 MiB: far more than a pipe holds (64 KiB on Linux)


def produce(queue: "mp.Queue[bytes]") -> None:
    queue.cancel_join_thread()
    queue.put(b"x" * ITEM_BYTES)


def main(method: str) -> None:
    ctx = mp.get_context(method)
    queue: mp.Queue[bytes] = ctx.Queue()
    child = ctx.Process(target=produce, args=(queue,), name="Producer")
    child.start()
    child.join()  # returns: the child's exit does not join its feeder thread
    try:
        print(len(queue.get(timeout=1)))
    except queue_module.Empty:
        print("the item was lost with the child's feeder thread")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
