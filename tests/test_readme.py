"""README.md embeds the rules generated from the model; it must not drift from it."""

from __future__ import annotations

import re
from pathlib import Path

from model.extend import load
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
