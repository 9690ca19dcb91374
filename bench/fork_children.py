"""Fork children one at a time and report what each cost: the program bench/bench_fork_cost.py runs.

    python bench/fork_children.py [COUNT]

Each child runs examples/programs/many_processes.py's ``work`` (two threads doing a tiny job,
joined), and the main program joins it before starting the next, so the main program's and the
children's CPU (``getrusage``: self, and the reaped children) and page faults divide exactly by
child, with no two processes competing for a core. Prints one JSON line.
"""

import json
import multiprocessing as mp
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "programs"))
from many_processes import work


def main(count: int) -> None:
    context = mp.get_context("fork")
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(count):
        child = context.Process(target=work)
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"a child failed: exit code {child.exitcode}")
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)

    def per_child_us(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
        return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / count * 1e6

    print(json.dumps({
        "parent_us": per_child_us(self_before, self_after),
        "parent_faults": (self_after.ru_minflt - self_before.ru_minflt) / count,
        "child_us": per_child_us(children_before, children_after),
        "child_faults": (children_after.ru_minflt - children_before.ru_minflt) / count,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
