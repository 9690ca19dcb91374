"""The names of the life states that engines, exports and the runtime read, each stated once.

Standard library only, like the evidence checks that read them: a reproducer script carries
this file and runs without the rest of the model.
"""

RUNNABLE = "running.runnable"  # a process's main thread, or a thread, can act
BLOCKED = "running.blocked"
TERMINATE_DAEMONS = "exiting.terminate_daemon_children"
JOIN_CHILDREN = "exiting.join_children"
JOIN_THREADS = "exiting.join_threads"
RUN_FINALIZERS = "exiting.run_finalizers"  # util._run_finalizers(): priority < 0, a Queue's feeder join
ZOMBIE = "terminated.zombie"
REAPED = "terminated.reaped"


def is_running(life: str) -> bool:
    """A life in the running super-state (its target, or the main program's code, runs)."""
    return life.startswith("running")


def is_exiting(life: str) -> bool:
    """A life in the exit sequence."""
    return life.startswith("exiting")


def is_terminated(life: str) -> bool:
    """A life after the process ended (a zombie, or reaped)."""
    return life.startswith("terminated")


__all__ = ["BLOCKED", "JOIN_CHILDREN", "JOIN_THREADS", "REAPED", "RUNNABLE", "RUN_FINALIZERS", "TERMINATE_DAEMONS", "ZOMBIE",
           "is_exiting", "is_running", "is_terminated"]
