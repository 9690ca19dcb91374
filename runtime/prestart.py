"""Main programs started one run ahead: each run still gets a fresh interpreter, used once.

Starting an interpreter with the agent and its observer costs about 0.1-0.2 s, most of a short
run. ``Prestarted.take()`` hands over a driver whose main program was launched while the run
before it went on, and launches the next one at once; ``close()`` ends the one left waiting
(its processes are killed and reaped like any run's).
"""

from __future__ import annotations

from collections.abc import Callable

from proclife.runtime.driver import Driver


class Prestarted:
    """A supply of fresh drivers, one launched ahead of the one in use."""

    def __init__(self, launch: Callable[[], Driver]) -> None:
        self._launch = launch  # must start the main program without waiting for it (Driver(ahead=True))
        self._next: Driver | None = None
        self._closed = False

    def take(self) -> Driver:
        """A driver whose main program has said hello, never used before."""
        if self._closed:
            raise RuntimeError("this supply of drivers is closed")
        driver, self._next = self._next, None
        if driver is None:
            driver = self._launch()
        driver.ready()
        self._next = self._launch()
        return driver

    def close(self) -> None:
        self._closed = True
        driver, self._next = self._next, None
        if driver is not None:
            driver.close()

    def __enter__(self) -> Prestarted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
