"""Errors raised by the model: each names the fault and how to fix it."""

from __future__ import annotations


class ModelError(ValueError):
    """The model, or something asked of it, is inconsistent."""


class ExtensionError(ModelError):
    """An extension could not be loaded or does not fit the model it extends."""


class UnknownActionError(ModelError):
    """An action names an event or a component the model does not have."""


class RuleCallError(ExtensionError):
    """A guard or effect an extension gave raised when a rule called it: named with its rule."""
