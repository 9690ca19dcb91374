"""The traced runs in progress on this machine, so that ``proclife why PID`` finds the run of a pid.

``proclife trace`` writes one small file per run, named by the tracer's pid, in a folder under
the temporary directory, and removes it when the run is over. A file whose tracer is gone (a
tracer killed by SIGKILL) is skipped and removed by the next reader.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from proclife.runtime.observer import parse_line

FOLDER_NAME = "proclife-trace-runs"


@dataclass(frozen=True)
class RunEntry:
    """Where a traced run's events and stack dumps are."""

    tracer_pid: int
    main_pid: int
    sink: str
    stacks: str

    def pids(self) -> set[int]:
        """Every pid that wrote an event so far."""
        return observed_pids(Path(self.sink))


def observed_pids(sink: Path) -> set[int]:
    """Every pid that wrote an event to ``sink`` (a line cut short by a death is skipped)."""
    found = set()
    with contextlib.suppress(FileNotFoundError), sink.open() as lines:
        for line in lines:
            with contextlib.suppress(ValueError, KeyError):
                found.add(parse_line(line).pid)
    return found


def folder() -> Path:
    return Path(os.environ.get("PROCLIFE_TRACE_RUNS") or Path(tempfile.gettempdir()) / FOLDER_NAME)


def register(entry: RunEntry) -> Path:
    """List the run; :func:`unregister` the path returned when it is over."""
    where = folder()
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{entry.tracer_pid}.json"
    path.write_text(json.dumps(asdict(entry)))
    return path


def unregister(path: Path) -> None:
    path.unlink(missing_ok=True)


def runs() -> list[RunEntry]:
    """The runs in progress (their tracer alive)."""
    found = []
    for path in sorted(folder().glob("*.json")) if folder().is_dir() else []:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            entry = RunEntry(**json.loads(path.read_text()))
            if psutil.pid_exists(entry.tracer_pid):
                found.append(entry)
            else:
                path.unlink(missing_ok=True)
    return found


def run_of(pid: int) -> RunEntry | None:
    """The run in progress that ``pid`` belongs to (it wrote an event there), if any."""
    return next((entry for entry in runs() if pid == entry.main_pid or pid in entry.pids()), None)
