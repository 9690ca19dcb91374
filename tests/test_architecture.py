"""The house rules: one import name once installed, the layers of pyproject's import contracts, no circle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_the_import_contracts_hold() -> None:
    out = subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout or "broken" not in out.stdout.split("Contracts:")[-1]


def test_no_module_imports_round_a_circle() -> None:
    graph = grimp.build_graph("proclife", exclude_type_checking_imports=False)
    modules = sorted(graph.modules)
    circles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported == module or imported.startswith(module + "."):
                continue  # a package importing its own parts is not a circle
            if module.startswith(imported + "."):
                continue  # a module's parent package runs first by definition
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain and not any(c.startswith(module + ".") for c in chain):
                circles.append(" -> ".join((module, *chain)))
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles))[:10])


def test_the_agent_loads_nothing_of_the_model_or_the_tools() -> None:
    code = ("import sys, proclife.runtime.agent; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'click', 'rich', 'graphviz', 'hypothesis', 'transitions', 'psutil'} or m.startswith('proclife.model')); "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_model_names_no_state_outside_the_spec() -> None:
    """State names in code come from the spec: no string literal in model/, runtime/ or proclife/ equals a
    dotted spec state name, except in base.py, which declares them, and lives.py, which names the roles the
    rest reads (RUNNABLE, ZOMBIE...)."""
    from proclife.model.core.base import BASE

    dotted = {s.name for s in BASE.states if "." in s.name}
    assert len(dotted) >= 7
    found = []
    for top in ("model", "runtime", "proclife"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() in ("model/core/base.py", "model/core/lives.py"):  # rglob does not enter proclife/model, proclife/runtime (links)
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and node.value in dotted:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, "state names restated outside the spec:\n" + "\n".join(found)


def _copy_project(to: Path) -> Path:
    tree = to / "src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for name in ("model", "runtime", "proclife"):
        shutil.copytree(ROOT / name, tree / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tree


def _fresh_venv(where: Path) -> tuple[Path, Path]:
    """A venv with no proclife in it; it reaches the dependencies through a path entry to ours."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # a plain path: its .pth files don't run
    return python, site


def _top_level_names(python: Path, cwd: Path) -> set[str]:
    """The import names the installed distribution adds, read from its own file list."""
    code = (
        "import importlib.metadata as md, re\n"
        "dist = md.distribution('proclife')\n"
        "names = set()\n"
        "for f in dist.files or []:\n"
        "    top = f.parts[0]\n"
        "    if top.endswith(('.dist-info', '.pth')) or top == '..':\n"
        "        continue\n"
        "    if top.startswith('__editable___') and top.endswith('_finder.py'):\n"
        "        text = f.read_text()\n"
        "        mapping = eval(re.search(r'^MAPPING[^=]*= (.*)$', text, re.M).group(1))\n"
        "        names |= {k.split('.')[0] for k in mapping}\n"
        "        continue\n"
        "    names.add(top.removesuffix('.py'))\n"
        "print(sorted(names))\n"
    )
    out = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return set(ast.literal_eval(out.stdout.strip()))


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_installed_it_is_one_import_name(tmp_path: Path, editable: bool) -> None:
    tree = _copy_project(tmp_path)
    wheels = tmp_path / "wheels"
    hook = "build_editable" if editable else "build_wheel"
    build = subprocess.run(
        [sys.executable, "-c", f"import sys; from setuptools import build_meta as b; print(b.{hook}(sys.argv[1]))",
         str(wheels)], cwd=tree, capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = wheels / build.stdout.strip().splitlines()[-1]
    if not editable:
        names = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
        assert names == {"proclife", "proclife-0.1.0.dist-info"}, names
        assert "proclife/model/core/engine.py" in zipfile.ZipFile(wheel).namelist()
        assert "proclife/runtime/agent.py" in zipfile.ZipFile(wheel).namelist()
    python, site = _fresh_venv(tmp_path / "venv")
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(site)  # what installing a wheel without scripts amounts to
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    works = subprocess.run([str(python), "-c", "import proclife.model.core.engine, proclife.runtime.agent, proclife"
                            "; print(proclife.machine('thread').state)"],
                           cwd=elsewhere, capture_output=True, text=True, timeout=60, env=env)
    assert works.returncode == 0, works.stderr
    assert works.stdout.strip() == "new"
    for name in ("model", "runtime"):
        gone = subprocess.run([str(python), "-c", f"import {name}"], cwd=elsewhere, capture_output=True, text=True,
                              timeout=60, env=env)
        assert gone.returncode == 1 and "ModuleNotFoundError" in gone.stderr, (name, gone.stderr)
    assert _top_level_names(python, elsewhere) == {"proclife"}
