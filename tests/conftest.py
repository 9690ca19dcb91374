"""Shared test helpers: external tools a test needs (spin, gcc, dot).

Where a tool is missing a test skips on a developer's machine, but fails under CI (``CI`` set
to true, as CI services do): a CI run that skipped the SPIN checks would pass unearned.
"""

from __future__ import annotations

import os
import shutil
import signal

import pytest

APT = {"spin": "spin", "gcc": "gcc", "dot": "graphviz"}


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def named_semaphores(pid: int) -> set[str]:
    """The named semaphores process ``pid`` has mapped (/dev/shm/sem.*: a spawn or forkserver
    context's locks; fork's are unlinked at once). glibc maps a semaphore under a temporary name
    it then links to the real one, so they are found by inode."""
    with open(f"/proc/{pid}/maps") as maps:
        inodes = {int(line.split()[4]) for line in maps if "/dev/shm/sem." in line}
    return {entry.path for entry in os.scandir("/dev/shm") if entry.inode() in inodes}


def require_tool(*tools: str) -> None:
    """Return if every tool is on PATH; otherwise skip, or fail under CI."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    packages = " ".join(sorted({APT.get(t, t) for t in missing}))
    why = f"needs {', '.join(missing)} on PATH (apt-get install {packages})"
    if under_ci():
        pytest.fail(f"{why}: under CI a missing tool fails the test instead of skipping it", pytrace=False)
    pytest.skip(why)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tools(*names): the external tools the test runs (skip, or fail under CI)")
    # A run started as a background job of a non-interactive shell inherits SIGINT ignored (and
    # `trap -` cannot undo it): the programs the tests start would inherit it through exec, and the
    # tests of Ctrl-C and of the default SIGINT disposition would fail for the launch, not the code.
    # Handled here, SIGINT is back to its default in every process the tests start.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("tools"):
        require_tool(*mark.args)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``heavy`` (tens of seconds each) first, so that the two xdist workers share them
    and end together instead of one finishing the long ones alone (with ``--dist load`` and small
    scheduling chunks, each worker takes the next test when it is free)."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
