"""docs/semantics.md E9. The main program's _exit_function: which child it joins first, and who is reaped when.

Children: E ends before the main program returns (waited for with WNOWAIT, not reaped);
D is daemonic and sleeps (SIGTERM kills it); N is non-daemon and ends only when the
observer (this script's parent run) writes to a FIFO. A profile hook in the main program
reports each Process.join() begun, with each child's poll state at that moment.
Usage: exit_joins.py METHOD RUNS
"""
import collections
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading

MAIN = r'''
import multiprocessing as mp, os, sys, time
from multiprocessing import process

def sleeper():
    import threading
    threading.Event().wait()

def waiter(fifo):
    with open(fifo) as f:
        f.read()

def ended():
    pass

def hook(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "join" and isinstance(frame.f_locals.get("self"), process.BaseProcess):
        me = frame.f_locals["self"]
        states = {k: ("polled" if p._popen.returncode is not None else "unpolled") for k, p in kids.items()}
        print("JOIN", me.name, states["E"], states["D"], flush=True)
    return None

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    kids = {"D": ctx.Process(target=sleeper, name="D", daemon=True),
            "N": ctx.Process(target=waiter, args=(sys.argv[2],), name="N"),
            "E": ctx.Process(target=ended, name="E")}  # E last: a later start() would poll it
    for p in kids.values():
        p.start()
    if sys.argv[1] != "forkserver":   # the forkserver reaps E itself; elsewhere wait without reaping
        os.waitid(os.P_PID, kids["E"].pid, os.WEXITED | os.WNOWAIT)
    else:
        import select; select.select([kids["E"].sentinel], [], [], 30)
    print("PIDS", kids["D"].pid, kids["N"].pid, flush=True)
    sys.setprofile(hook)
'''


def zombie_or_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def one(method, script):
    fifo = tempfile.mktemp()
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, script, method, fifo], stdout=subprocess.PIPE, text=True)
    d_pid = n_pid = None
    joins = []
    d_seen = None
    for line in proc.stdout:
        words = line.split()
        if words[0] == "PIDS":
            d_pid, n_pid = int(words[1]), int(words[2])
        elif words[0] == "JOIN":
            joins.append(tuple(words[1:]))
            if words[1] == "N":
                # The main program now waits in N.join(): D got SIGTERM before; wait (bounded) for it to die.
                for _ in range(2000):  # D is not our child (no wait on it): read /proc, 10 s at most
                    st = zombie_or_gone(d_pid)
                    if st in ("Z", "gone"):
                        break
                    threading.Event().wait(0.005)
                d_seen = zombie_or_gone(d_pid)
                with open(fifo, "w") as f:
                    f.write("go")
    proc.wait(30)
    os.unlink(fifo)
    return tuple(joins), d_seen


if __name__ == "__main__":
    method, runs = sys.argv[1], int(sys.argv[2])
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(MAIN)
    tally = collections.Counter(one(method, f.name) for _ in range(runs))
    print(sys.version.split()[0], method)
    for (joins, d_seen), n in sorted(tally.items()):
        print(f"  {n:3d}x joins (child, E, D at the join's start): {' '.join('/'.join(j) for j in joins)}; D while main joins N: {d_seen}")
