"""What the Python version and the start method change, each fact named for the behaviour.

The guards, the Promela export and the invariants read these facts, never a version number
or a start method's name, so that a fact and its CPython source are written down once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Traits:
    """The facts of one interpreter version and start method that the rules depend on."""

    children_exit_like_main: bool
    """3.13+: a child joins its threads first, then runs ``_exit_function`` from atexit.

    CPython 3.13 Lib/multiprocessing/process.py ``BaseProcess._bootstrap`` no longer calls
    ``util._exit_function()``; ``popen_fork.Popen._launch`` and ``forkserver.main`` register it
    with atexit and call ``atexit._run_exitfuncs()`` after ``_bootstrap`` (spawn: the
    interpreter's own shutdown). Seen: docs/python-versions.md.
    """

    shutdown_refuses_threads: bool
    """3.12: once the main program's exit sequence begins, ``Thread.start()`` raises RuntimeError.

    CPython 3.12 Modules/_threadmodule.c ``thread_PyThread_start_new_thread`` checks
    ``interp->finalizing``, which 3.12 sets before it joins the threads; 3.11 and 3.13 start
    the thread (tests/test_python_versions.py, 3.12.1).
    """

    shutdown_refuses_fork: bool
    """3.12 under fork: from the same moment ``Process.start()`` raises RuntimeError.

    CPython 3.12 Modules/posixmodule.c ``os_fork_impl`` refuses while the interpreter
    finalizes; ``Lib/multiprocessing/popen_fork.py Popen._launch`` calls ``os.fork()``.
    """

    zombies_reaped_at_once: bool
    """forkserver: a child's exit status is collected as soon as it ends, by the forkserver.

    ``Lib/multiprocessing/forkserver.py main``: its SIGCHLD handler wakes a loop of
    ``os.waitpid(-1, os.WNOHANG)``.
    """

    descendants_hold_sentinel: bool
    """fork: a live descendant keeps the write end of its ancestor's sentinel pipe open.

    ``Lib/multiprocessing/popen_fork.py Popen._launch`` makes the pipe before ``os.fork()``,
    so a child forked by the child inherits it; ``Popen.wait(timeout)`` waits on the sentinel
    (cpython issue 79838).
    """

    children_run_fresh_interpreter: bool
    """spawn: a child is a new interpreter, which ends through ``sys.exit`` from ``spawn_main``.

    ``Lib/multiprocessing/spawn.py spawn_main``: ``exitcode = _main(fd, parent_sentinel);
    sys.exit(exitcode)``; the interpreter's own shutdown runs after.
    """

    children_copy_handlers: bool
    """fork: a child is a copy of its parent, SIGTERM handler and ``SIG_IGN`` included.

    POSIX ``fork()`` keeps signal dispositions; ``execve()`` (spawn, the forkserver) keeps only
    ``SIG_IGN`` and resets a handler to the default.
    """

    children_share_forkserver: bool
    """forkserver: children are forked from a server started at the parent's first ``start()``.

    ``Lib/multiprocessing/forkserver.py ForkServer.ensure_running``: the server is exec'd
    once, with the parent's dispositions at that moment; later children inherit those.
    """

    children_inherit_forking_thread: bool
    """fork: a child's main thread is the ``Thread`` object of the parent's thread that forked it.

    ``Lib/threading.py _after_fork``: ``current = _active[get_ident()]; _main_thread = current``,
    daemon flag included, so a ``Thread()`` made without ``daemon=`` by the main thread of a
    child that a daemon thread started is daemonic (docs/semantics.md E10, 3.11 and 3.13).
    Spawn and forkserver children start from a fresh ``_MainThread`` (not daemonic).
    """

    @staticmethod
    def of(start_method: str, python: tuple[int, int]) -> Traits:
        fork, spawn, forkserver = (start_method == m for m in ("fork", "spawn", "forkserver"))
        return Traits(
            children_exit_like_main=python >= (3, 13),
            shutdown_refuses_threads=python == (3, 12),
            shutdown_refuses_fork=python == (3, 12) and fork,
            zombies_reaped_at_once=forkserver,
            descendants_hold_sentinel=fork,
            children_run_fresh_interpreter=spawn,
            children_copy_handlers=fork,
            children_share_forkserver=forkserver,
            children_inherit_forking_thread=fork,
        )
