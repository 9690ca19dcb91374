"""Version and start-method facts have one home: ``Traits``, built from ``Config``, read by every engine."""

from __future__ import annotations

import ast
from dataclasses import fields
from itertools import pairwise
from pathlib import Path

import pytest

from proclife.model.core.system import START_METHODS, Config
from proclife.model.core.traits import Traits

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ((3, 11), (3, 12), (3, 13), (3, 14))


def _field_docs() -> dict[str, str]:
    """Each trait's docstring: the string that follows its field in traits.py."""
    body = next(n for n in ast.parse((ROOT / "model/core/traits.py").read_text()).body
                if isinstance(n, ast.ClassDef) and n.name == "Traits").body
    docs = {}
    for field, doc in pairwise(body):
        named = isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
        if named and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
            docs[field.target.id] = str(doc.value.value)  # type: ignore[union-attr]
    return docs


def test_every_trait_says_where_in_cpython_it_comes_from() -> None:
    docs = _field_docs()
    assert set(docs) == {f.name for f in fields(Traits)}
    for name, doc in docs.items():
        assert any(mark in doc for mark in ("Lib/", "Modules/", "POSIX")), f"{name}: no CPython source in {doc!r}"


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("python", VERSIONS)
def test_traits_follow_the_version_and_the_start_method(method: str, python: tuple[int, int]) -> None:
    traits = Config(start_method=method, python=python).traits  # type: ignore[arg-type]
    assert traits == Traits.of(method, python)
    assert traits.children_exit_like_main == (python >= (3, 13))
    assert traits.shutdown_refuses_threads == (python == (3, 12))
    assert traits.shutdown_refuses_fork == (python == (3, 12) and method == "fork")
    # Exactly one way a child gets its parent's SIGTERM disposition: copied, through a forkserver, or by exec.
    assert traits.children_copy_handlers + traits.children_share_forkserver + traits.children_run_fresh_interpreter == 1
    assert traits.zombies_reaped_at_once == traits.children_share_forkserver


def test_no_engine_reads_the_version_or_the_start_method_itself() -> None:
    """Outside traits.py the model asks Traits; implementation profiles (model/profiles) state their own."""
    found = []
    for path in sorted((ROOT / "model").rglob("*.py")):
        if path.name == "traits.py" or path.parent.name == "profiles":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]
                if any(isinstance(p, ast.Attribute) and p.attr in ("python", "start_method") for p in parts):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "version or start-method checks outside Traits:\n" + "\n".join(found)
