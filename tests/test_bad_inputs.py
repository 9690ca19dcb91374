"""docs/bad-inputs.md is what a fresh run of every bad input prints: neither can drift from the other."""

from __future__ import annotations

from bad_inputs import TABLE, outcomes, table


def test_every_bad_input_is_a_one_line_error_of_status_2() -> None:
    rows = outcomes()
    assert len(rows) >= 40
    for case, outcome in rows:
        assert outcome.status == 2, (case, outcome)
        # click's own usage errors print the usage and a hint first; ours are one line.
        assert outcome.lines == 1 or outcome.message.startswith("Error:"), (case, outcome)
        assert "Traceback" not in outcome.message
    assert table(rows) == TABLE.read_text(), "docs/bad-inputs.md is stale: run `python tests/bad_inputs.py`"
