"""A harmless research extension: an explicit ``atexit`` phase in the main program.

Between joining its threads and terminating its daemonic children, the main program runs
its atexit handlers (multiprocessing's ``_exit_function`` is one of them, registered last
and so run first; the others run after it). The extension adds the state
``exiting.atexit`` for the handlers registered by the program and routes the main
program's exit sequence through it. Nothing may end differently, and the explorer shows
the extra states while every invariant still holds.
"""

from __future__ import annotations

from dataclasses import replace

from proclife.model.core.base import BASE
from proclife.model.core.extend import Extension
from proclife.model.core.spec import Rule, Source, StateDef

_SRC = Source("Python/pylifecycle.c Py_FinalizeEx: call_py_exitfuncs after wait_for_thread_shutdown", "extension")
_JOIN = BASE.rule("process.main_joins_threads")

EXTENSION = Extension(
    name="atexit_phase",
    doc="the main program runs its own atexit handlers as a phase of its own",
    states=(StateDef("process", "exiting.atexit", "the program's atexit handlers run"),),
    rules=(
        replace(_JOIN, dst="exiting.atexit"),
        Rule("process.main_runs_atexit", "process", "proceed", ("exiting.atexit",),
             "exiting.terminate_daemon_children", _SRC, when=("is_main",),
             doc="the handlers return; multiprocessing's own handler follows"),
    ),
)
