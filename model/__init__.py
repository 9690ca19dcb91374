"""proclife's formal model of a Python process's life: pure data and functions, no real processes."""

from proclife.model.core.base import BASE
from proclife.model.core.engine import Bounds, Engine, Transition
from proclife.model.core.errors import ExtensionError, ModelError, UnknownActionError
from proclife.model.core.semantics import NO_ARG, Action, Semantics, base_semantics
from proclife.model.core.spec import Drive, EventDef, Outcome, Rule, Source, Spec, StateDef
from proclife.model.core.system import Config, ProcState, System, ThreadState

__all__ = [
    "BASE", "NO_ARG", "Action", "Bounds", "Config", "Drive", "Engine", "EventDef", "ExtensionError",
    "ModelError", "Outcome", "ProcState", "Rule", "Semantics", "Source", "Spec", "StateDef",
    "System", "ThreadState", "Transition", "UnknownActionError", "base_semantics",
]

from proclife.model.core.extend import Extension, Model, apply, base_model, load, validate

__all__ += ["Extension", "Model", "apply", "base_model", "load", "validate"]
