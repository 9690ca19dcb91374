"""Exit statuses shared by every command, so that a crash never passes for a finding."""

from __future__ import annotations

OK = 0
DISAGREE = 1  # the model and reality (or an invariant) disagree
USAGE = 2  # bad argument, bad input, bad extension, unwritable output
HARNESS = 3  # the harness itself failed or timed out
