"""proclife's formal model of a Python process's life: pure data and functions, no real processes."""

from model.base import BASE
from model.engine import Bounds, Engine, Transition
from model.errors import ExtensionError, ModelError, UnknownActionError
from model.semantics import NO_ARG, Action, Semantics, base_semantics
from model.spec import EventDef, Outcome, Rule, Source, Spec, StateDef
from model.system import Config, ProcState, System, ThreadState

__all__ = [
    "BASE", "NO_ARG", "Action", "Bounds", "Config", "Engine", "EventDef", "ExtensionError",
    "ModelError", "Outcome", "ProcState", "Rule", "Semantics", "Source", "Spec", "StateDef",
    "System", "ThreadState", "Transition", "UnknownActionError", "base_semantics",
]

from model.extend import DRIVES, Extension, Model, apply, base_model, load, validate

__all__ += ["DRIVES", "Extension", "Model", "apply", "base_model", "load", "validate"]
