"""docs/semantics.md E10. What daemon flag a Process and a Thread get when created without daemon=, per start method."""
import multiprocessing as mp
import sys
import threading


def report(q, label):
    t = threading.Thread(target=lambda: None)
    p = mp.current_process()
    q.put((label, "child main thread daemon", threading.current_thread().daemon,
           "Thread() daemon", t.daemon, "Process() daemon", mp.Process(target=print).daemon,
           "own daemon", p.daemon))


def start_from(ctx, q, label, daemon_thread, daemon_child):
    def go():
        c = ctx.Process(target=report, args=(q, label), daemon=daemon_child)
        c.start()
        c.join()
    th = threading.Thread(target=go, daemon=daemon_thread)
    th.start()
    th.join()


if __name__ == "__main__":
    print(sys.version.split()[0])
    for method in ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        q = ctx.Queue()
        for dt in (False, True):
            for dc in (False, True):
                start_from(ctx, q, f"{method}: started by a {'daemon' if dt else 'non-daemon'} thread, child daemon={dc}", dt, dc)
                print(q.get(timeout=30))
        # a thread created by a daemon thread / by a non-daemon thread, no daemon=
        for flag in (False, True):
            box = []
            w = threading.Thread(target=lambda: box.append(threading.Thread(target=print).daemon), daemon=flag)
            w.start(); w.join()
            print(f"main program: Thread() made by a daemon={flag} thread -> daemon={box[0]}")
        print("main program: Thread() made by the main thread ->", threading.Thread(target=print).daemon,
              "; Process() ->", ctx.Process(target=print).daemon)
