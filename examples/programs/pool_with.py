"""A correct program: a Pool used with `with` and map. No finding.

    python pool_with.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys


def square(x: int) -> int:
    return x * x


def main(method: str) -> None:
    with mp.get_context(method).Pool(2) as pool:
        print(sum(pool.map(square, range(100))))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
