"""A correct program: concurrent.futures.ProcessPoolExecutor with map. No finding.

    python process_pool_executor.py [fork|spawn|forkserver]
"""

import multiprocessing as mp
import sys
from concurrent.futures import ProcessPoolExecutor


def square(x: int) -> int:
    return x * x


def main(method: str) -> None:
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context(method)) as pool:
        print(sum(pool.map(square, range(100))))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fork")
