"""README.md embeds the rules generated from the model; it must not drift from it."""

from __future__ import annotations

import re
from pathlib import Path

from proclife.model.core.extend import load
from proclife.readme import rules_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_readme_rules_block_matches_the_model() -> None:
    readme = (ROOT / "README.md").read_text()
    assert rules_markdown(load()) in readme, (
        "README.md's rules block is stale: run `proclife model --update-readme README.md` and commit"
    )


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```\n(.*?)```", readme, re.S)
    assert first_block is not None
    commands = first_block.group(1).split()
    assert commands == ["./run", "demo", "./run", "test"]
    assert "./run test" in (ROOT / ".ci" / "run").read_text()


def test_every_rule_id_is_listed_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [r.id for r in load().spec.rules if f"`{r.id}`" not in readme]
    assert not missing, f"rules missing from README.md: {missing}"


def test_the_worked_extension_example_runs_as_the_readme_shows(tmp_path: Path) -> None:
    import shlex
    import subprocess
    import sys

    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith(".venv/bin/proclife explore"))
    args = shlex.split(line)[1:]
    out = subprocess.run([sys.executable, "-m", "proclife", *args], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1, out.stdout + out.stderr
    assert "BROKEN exit_sequence_joined" in out.stdout
    assert (tmp_path / "early.json").exists() and any((tmp_path / "early").iterdir())


def test_the_profiles_table_is_generated_from_the_profiles() -> None:
    from proclife.readme import profiles_markdown

    assert profiles_markdown() in (ROOT / "README.md").read_text(), (
        "README.md's profiles block is stale: run `proclife model --update-readme README.md` and commit"
    )


def test_the_extension_code_shown_is_the_code_that_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```python\n(.*?)```", readme, re.S)
    assert shown is not None
    assert shown.group(1).strip() in (ROOT / "examples" / "early_exit.py").read_text()
