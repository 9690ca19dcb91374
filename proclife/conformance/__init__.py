"""Conformance: the model and real processes side by side, step by step.

``Runner`` holds one real system beside the model; ``machine_for`` turns the model's events
into a hypothesis ``RuleBasedStateMachine``; ``check`` runs the directed plan and then the
random exploration and returns a ``Report``.
"""

from proclife.conformance.report import Disagreement, Report, StepRecord
from proclife.conformance.runner import Runner, Timing, drivable, run_trace

__all__ = ["Disagreement", "Report", "Runner", "StepRecord", "Timing", "drivable", "run_trace"]
