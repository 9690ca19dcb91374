"""The programming guidelines' "joining processes that use queues": a deadlock.

The child puts an item larger than the pipe's buffer on a Queue. Its feeder thread writes it
into the pipe until the pipe is full; the child's exit then joins the feeder thread (the queue's
finalizer), which waits for a reader. The parent joins the child before reading the queue: each
waits for the other, for ever.

    python queue_join_deadlock.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys

ITEM_BYTES = 1 << 20  # 1 MiB: far more than a pipe holds (64 KiB on Linux)


def produce(queue: "mp.Queue[bytes]") -> None:
    queue.put(b"x" * ITEM_BYTES)


def main(method: str) -> None:
    ctx = mp.get_context(method)
    queue: mp.Queue[bytes] = ctx.Queue()
    child = ctx.Process(target=produce, args=(queue,), name="Producer")
    child.start()
    child.join()  # the deadlock: the child cannot end before its item is read
    print(len(queue.get()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
