"""A call-heavy compute program: recursive Fibonacci, millions of pure-Python calls and nothing else.

    python bench/call_heavy.py [N]

Prints fib(N) and the seconds the computation took (``perf_counter`` around it, interpreter start
and exit excluded). bench/bench_trace.py runs it untraced and traced: on 3.11 the observer's
profile function is called at every call and return, so this is its worst case per unit of work;
on 3.12+ the observer's sys.monitoring events are local to the code it hooks, and fib is not.
"""

import sys
import time


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def main(n: int) -> None:
    began = time.perf_counter()
    value = fib(n)
    print(f"fib({n}) = {value} in {time.perf_counter() - began:.4f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 33)
