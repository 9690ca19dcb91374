"""A correct program: a child started and joined. No finding.

    python clean.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys


def work() -> None:
    print("child: done", flush=True)


def main(method: str) -> None:
    child = mp.get_context(method).Process(target=work, name="Worker")
    child.start()
    child.join()
    print(f"child exit code {child.exitcode}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
