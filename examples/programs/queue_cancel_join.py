"""The queue-join deadlock avoided with ``cancel_join_thread()``, and what it costs.

The child puts an item larger than the pipe's buffer on a Queue, having cancelled the join of
the queue's feeder thread: its exit no longer waits for a reader, so the parent's join()
returns. The item is lost: the feeder dies with the child, part-way through writing it. The
parent must not read the queue now: a get() could find the start of the item in the pipe and
wait for the rest for ever. The programming guidelines recommend cancel_join_thread() only when
losing the data does not matter.

    python queue_cancel_join.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
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
    print(f"the producer ended with exit code {child.exitcode}; its item is lost")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
