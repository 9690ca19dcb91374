"""A user's mistake (bad --impl, --profile, --extend, path file or README) is one line and status 2.

Never a traceback and status 3, which would blame proclife for the user's code: the line
names the input at fault and how to fix it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_inputs import EXTENSIONS  # the user's extension module, shared with the table
from click.testing import CliRunner, Result

from proclife.cli import main
from proclife.model.core.errors import ExtensionError


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A current folder holding the user's modules, each name unique to this test (no import cache)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("user_"):
            del sys.modules[name]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line(result: Result, *words: str) -> str:
    """The run ended with status 2 and one line of error naming every one of ``words``."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("proclife: error:"), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def write(folder: Path, name: str, text: str) -> str:
    (folder / f"{name}.py").write_text(text)
    return name


def path_file(folder: Path, steps: list[dict[str, object]]) -> str:
    (folder / "path.json").write_text(json.dumps(steps))
    return str(folder / "path.json")


CHILD = [{"event": "create_child", "pid": 0, "arg": False}, {"event": "start", "pid": 1}]


# --- --impl and --profile --------------------------------------------------------------------


def test_an_impl_module_that_raises_on_import(here: Path) -> None:
    mod = write(here, "user_impl_raises", "raise RuntimeError('no context here')\n")
    one_line(run("replay", path_file(here, CHILD), "--impl", f"{mod}:ctx"), f"{mod}:ctx", "RuntimeError",
             "no context here")


def test_a_profile_is_found_in_the_current_folder(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from proclife.model.profiles.registry import resolve_profile

    mod = write(here, "user_profile", "from proclife.model.profiles.registry import registry\n"
                                      "MINE = registry()['billiard']\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in (str(here), "")])
    assert resolve_profile(f"{mod}:MINE").name == "billiard"


def test_a_profile_module_that_raises_on_import(here: Path) -> None:
    mod = write(here, "user_profile_raises", "raise KeyError('nope')\n")
    one_line(run("replay", path_file(here, CHILD), "--profile", f"{mod}:P"), f"{mod}:P", "KeyError")


# --- extensions ------------------------------------------------------------------------------


def test_an_extension_factory_that_raises(here: Path) -> None:
    mod = write(here, "user_ext_factory", EXTENSIONS)
    one_line(run("model", "--extend", f"{mod}:factory"), f"{mod}:factory", "the factory broke")


def test_a_declared_factory_is_called(here: Path) -> None:
    mod = write(here, "user_ext_good", EXTENSIONS)
    result = run("model", "--extend", f"{mod}:good_factory")
    assert result.exit_code == 0 and "extensions: fine" in result.output, result.output


@pytest.mark.parametrize("target", ["sys:exit", "user_ext_plain:not_a_factory"])
def test_a_callable_not_declared_as_a_factory_is_refused_uncalled(here: Path, target: str) -> None:
    write(here, "user_ext_plain", EXTENSIONS)
    one_line(run("model", "--extend", target), target, "-> Extension")


def test_an_extension_whose_rules_hold_a_string(here: Path) -> None:
    mod = write(here, "user_ext_string", EXTENSIONS)
    one_line(run("model", "--extend", f"{mod}:STRING_RULE"), "'s'", "rules", "'process.block'", "Rule")


def test_two_rules_with_one_id_in_an_extension(here: Path) -> None:
    mod = write(here, "user_ext_twice", EXTENSIONS)
    one_line(run("model", "--extend", f"{mod}:TWICE"), "'twice'", "process.block", "twice")


@pytest.mark.parametrize(("name", "words"), [
    ("ARITY", ("'lonely'", "process.block", "(system, ctx)")),
    ("EFFECT_ARITY", ("'two'", "process.block", "(system, ctx, arg)")),
])
def test_a_guard_or_effect_of_the_wrong_arity_is_refused_at_load(here: Path, name: str, words: tuple[str]) -> None:
    mod = write(here, f"user_ext_{name.lower()}", EXTENSIONS)
    one_line(run("model", "--extend", f"{mod}:{name}"), *words)


@pytest.mark.parametrize(("name", "words"), [
    ("RAISES", ("process.block", "guard 'boom'", "ZeroDivisionError")),
    ("EFFECT_RAISES", ("process.block", "effect 'bad'", "KeyError")),
])
def test_a_guard_or_effect_that_raises_names_the_rule(here: Path, name: str, words: tuple[str]) -> None:
    mod = write(here, f"user_ext_run_{name.lower()}", EXTENSIONS)
    steps = [{"event": "block", "pid": 0}]
    one_line(run("replay", path_file(here, steps), "--extend", f"{mod}:{name}"), *words)


def test_the_engine_names_the_rule_and_guard_that_raised(here: Path) -> None:
    from proclife.model.core.engine import Engine
    from proclife.model.core.extend import load
    from proclife.model.core.semantics import Action
    from proclife.model.core.system import System

    mod = write(here, "user_ext_engine", EXTENSIONS)
    model = load([f"{mod}:RAISES"])
    with pytest.raises(ExtensionError, match=r"rule 'process\.block'.*guard 'boom'.*ZeroDivisionError"):
        Engine(model.spec, model.semantics).fire(System.initial(), Action("block", 0))


# --- replay's path file ----------------------------------------------------------------------


@pytest.mark.parametrize(("step", "words"), [
    ({"event": "thread_start", "pid": 1, "thread": "x"}, ("step 3", "thread", "'x'")),
    ({"event": "start", "pid": "one"}, ("step 3", "pid", "'one'")),
    # any JSON value is an argument (sys.exit([1, 2]) exits 1), but past a C int the model says nothing
    ({"event": "sys_exit", "pid": 1, "arg": 2**40}, ("step 3", str(2**40), "sys_exit", "C int")),
])
def test_a_path_step_the_path_language_refuses(here: Path, step: dict[str, object], words: tuple[str]) -> None:
    one_line(run("replay", path_file(here, [*CHILD, step])), *words)


# --- model --update-readme --------------------------------------------------------------------


def test_update_readme_without_markers(here: Path) -> None:
    (here / "NOTES.md").write_text("# notes\n")
    one_line(run("model", "--update-readme", "NOTES.md"), "NOTES.md", "<!-- BEGIN rules")
    assert (here / "NOTES.md").read_text() == "# notes\n"
