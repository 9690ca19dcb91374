"""A child never joined by its parent: the exit sequence joins it.

The child 'Quick' ends on its own; the main program returns without joining it. Its exit
function (multiprocessing.util._exit_function) collects it: the child was joined only because
the program ended.

    python never_joined_child.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys


def quick() -> None:
    print("Quick: done", flush=True)


def main(method: str) -> None:
    mp.get_context(method).Process(target=quick, name="Quick").start()
    print("main program returns without joining")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
