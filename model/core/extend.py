"""The one way to change the model without editing it: an ``Extension``.

Researchers add states, events and rules; implementation profiles remove or replace rules.
An extension also carries what every engine needs of it: the Promela forms of its guards
and effects (SPIN), its invariants and findings, fairness assumptions, the scopes that offer
its events, and the facts of the Python version and start method it depends on (traits).
Everything is merged here and validated before anything runs, so a typo fails at load time
with a message that names the fault and its fix, not as a silent gap in a diagram.
docs/extending.md says what each field holds and how each function is called.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from proclife.model.core.base import BASE
from proclife.model.core.checks import Fairness, Finding, Liveness, PromelaForm, StateInvariant, StepInvariant
from proclife.model.core.errors import ExtensionError
from proclife.model.core.semantics import Effect, Guard, Semantics, base_semantics
from proclife.model.core.spec import BY_VALUES, DRIVE_KINDS, MACHINES, EventDef, Rule, Source, Spec, StateDef
from proclife.model.core.system import PYTHONS, START_METHODS, Config


@dataclass(frozen=True)
class ScopeDef:
    """Events an explore scope offers: a scope of the extension's own, or additions to a known one.

    A ``name`` the explorer knows (``exit``, ``small``, ``lifecycle``; ``full`` offers every
    event already) gains ``offers`` and the narrowed ``args``; any other name declares a new
    scope that offers exactly ``offers`` (``doc`` says what it is for; it is printed with
    every summary, because a property proved in a scope is proved only there).
    """

    name: str
    doc: str
    offers: tuple[str, ...]
    args: dict[str, tuple[object, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Trait:
    """A fact of the Python version and start method that an extension's rules depend on.

    Written once with its source, read by name: ``TRAIT(ctx.config)`` in a guard,
    ``TRAIT(g.config)`` in a Promela form. ``holds(start_method, (major, minor))`` is
    evaluated for every start method and version the model knows when the extension loads.
    """

    name: str
    doc: str
    source: Source
    holds: Callable[[str, tuple[int, int]], bool]

    def __call__(self, config: Config) -> bool:
        return bool(self.holds(config.start_method, config.python))

    def table(self) -> dict[str, dict[str, bool]]:
        """Its value for every start method (outer key) and Python version (inner key, "3.11")."""
        return {m: {f"{a}.{b}": bool(self.holds(m, (a, b))) for a, b in PYTHONS} for m in START_METHODS}


@dataclass(frozen=True, kw_only=True)
class EngineParts:
    """What an extension gives the engines besides its rules; a model holds those of every extension applied.

    ``guard_forms`` and ``effect_forms``: the Promela text of a guard or effect, by its name
    (``form(g, where)``, ``form(g, where, arg)``); ``invariants``, ``liveness``, ``findings``:
    checks of its own (``model/core/checks.py``); ``fairness``: events assumed to happen
    eventually; ``scopes``: the explore scopes that offer its events; ``traits``: facts of the
    Python version and start method its guards read.
    """

    guard_forms: dict[str, PromelaForm] = field(default_factory=dict)
    effect_forms: dict[str, PromelaForm] = field(default_factory=dict)
    invariants: tuple[StateInvariant | StepInvariant, ...] = ()
    liveness: tuple[Liveness, ...] = ()
    findings: tuple[Finding, ...] = ()
    fairness: tuple[Fairness, ...] = ()
    scopes: tuple[ScopeDef, ...] = ()
    traits: tuple[Trait, ...] = ()


@dataclass(frozen=True)
class Extension(EngineParts):
    """A change to a model: what it adds, what it replaces (same rule id), what it removes."""

    name: str
    doc: str
    states: tuple[StateDef, ...] = ()
    events: tuple[EventDef, ...] = ()
    rules: tuple[Rule, ...] = ()
    remove: tuple[str, ...] = ()
    guards: dict[str, Guard] = field(default_factory=dict)
    effects: dict[str, Effect] = field(default_factory=dict)
    source: Source | None = None


@dataclass(frozen=True)
class Model(EngineParts):
    """A spec with the guards and effects its rules name: what every other part consumes.

    Besides the spec, what the extensions applied add for the engines (the base model's own
    checks and Promela forms live beside the engines, in ``model/explore`` and ``model/spin``).
    """

    spec: Spec
    semantics: Semantics
    extensions: tuple[str, ...] = ()


def base_model() -> Model:
    return Model(BASE, base_semantics())


# How the engine calls what an extension names: checked once at load, never on the hot path.
CALLED_AS = {"guard": ("system", "ctx"), "effect": ("system", "ctx", "arg")}
FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("states", StateDef, "StateDef(machine, name, doc)"),
    ("events", EventDef, "EventDef(...)"),
    ("rules", Rule, "Rule(...) or dataclasses.replace(BASE.rule(id), ...); to drop a rule, name its id in remove"),
    ("remove", str, "a rule id"),
    ("invariants", (StateInvariant, StepInvariant), "StateInvariant(...) or StepInvariant(...) from proclife.model.core.checks"),
    ("liveness", Liveness, "Liveness(...) from proclife.model.core.checks"),
    ("findings", Finding, "Finding(...) from proclife.model.core.checks"),
    ("fairness", Fairness, "Fairness(event, liveness, why) from proclife.model.core.checks"),
    ("scopes", ScopeDef, "ScopeDef(name, doc, offers)"),
    ("traits", Trait, "Trait(name, doc, source, holds)"),
)


def check_shape(ext: Extension) -> None:
    """Refuse an extension whose fields hold the wrong kind of thing, or two rules with one id."""
    name = ext.name
    for field_name, kind, build in FIELDS:
        items = getattr(ext, field_name)
        if not isinstance(items, (tuple, list)):
            raise ExtensionError(f"extension {name!r}: {field_name} is a {type(items).__name__}; give a tuple")
        for item in items:
            if not isinstance(item, kind):
                kinds = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise ExtensionError(
                    f"extension {name!r}: {field_name} holds {item!r}, a {type(item).__name__}, not a "
                    f"{kinds}; use {build}"
                )
    seen: set[str] = set()
    for rule in ext.rules:
        if rule.id in seen:
            raise ExtensionError(
                f"extension {name!r} has two rules with id {rule.id!r}; keep one (a rule with a model's id "
                "replaces that rule), or give the other its own id"
            )
        seen.add(rule.id)
    for what, table in (("guards", ext.guards), ("effects", ext.effects), ("guard_forms", ext.guard_forms),
                        ("effect_forms", ext.effect_forms)):
        if not isinstance(table, dict):
            raise ExtensionError(f"extension {name!r}: {what} is a {type(table).__name__}; give a dict of name: function")
    names = [c.name for c in (*ext.invariants, *ext.liveness, *ext.findings)]
    for check in names:
        if names.count(check) > 1:
            raise ExtensionError(f"extension {name!r} declares two checks named {check!r}; give each its own name")


def check_calls(spec: Spec, ext: Extension) -> None:
    """Each guard and effect ``ext`` gives takes exactly the arguments the engine passes (``CALLED_AS``)."""
    for kind, table in (("guard", ext.guards), ("effect", ext.effects)):
        params = CALLED_AS[kind]
        call = f"{kind}({', '.join(params)})"
        for key, fn in table.items():
            users = [r.id for r in spec.rules
                     if key in {n.lstrip("!") for n in r.when} | {e.partition(":")[0] for e in r.effects}]
            where = f"{kind} {key!r} (named by {', '.join(map(repr, users)) or 'no rule'})"
            if not isinstance(key, str) or not callable(fn):
                raise ExtensionError(f"extension {ext.name!r}: {where} is {fn!r}; give a function called as {call}")
            try:
                signature = inspect.signature(fn)
            except (TypeError, ValueError):
                continue  # a builtin without a signature: a wrong call is named when it happens
            try:
                signature.bind(*params)
            except TypeError as exc:
                raise ExtensionError(
                    f"extension {ext.name!r}: {where} takes {signature} ({exc}), but the engine calls it as {call}"
                ) from None


def apply(model: Model, ext: Extension) -> Model:
    """Merge ``ext`` into ``model`` and validate the result."""
    check_shape(ext)
    spec = model.spec
    known_ids = {r.id for r in spec.rules}
    for rid in ext.remove:
        if rid not in known_ids:
            raise ExtensionError(
                f"extension {ext.name!r} removes rule {rid!r}, which the model does not have; "
                f"`proclife model` lists the rule ids"
            )
    replaced = {r.id: r for r in ext.rules if r.id in known_ids}
    rules = [replaced.get(r.id, r) for r in spec.rules if r.id not in ext.remove]
    rules += [r for r in ext.rules if r.id not in known_ids]
    merged = Spec(
        name=f"{spec.name}+{ext.name}",
        version=spec.version,
        states=spec.states + ext.states,
        events=spec.events + ext.events,
        rules=tuple(rules),
        initial=spec.initial,
        notes=spec.notes + ((f"{ext.name}: {ext.doc}",) if ext.doc else ()),
    )
    semantics = model.semantics.merged(Semantics(dict(ext.guards), dict(ext.effects)))
    validate(merged, semantics, blame=ext.name)
    check_calls(merged, ext)
    check_engine_parts(merged, semantics, ext)
    return Model(
        merged, semantics, model.extensions + (ext.name,),
        guard_forms={**model.guard_forms, **ext.guard_forms},
        effect_forms={**model.effect_forms, **ext.effect_forms},
        invariants=model.invariants + tuple(ext.invariants),
        liveness=model.liveness + tuple(ext.liveness),
        findings=model.findings + tuple(ext.findings),
        fairness=model.fairness + tuple(ext.fairness),
        scopes=model.scopes + tuple(ext.scopes),
        traits=model.traits + tuple(ext.traits),
    )


def check_engine_parts(spec: Spec, semantics: Semantics, ext: Extension) -> None:
    """What the extension gives the engines names only what the model has; each trait answers a bool.

    Which check a finding or a fairness assumption names is checked where the base checks are
    known (``model/explore/invariants.py checks_of``).
    """

    def fail(msg: str) -> None:
        raise ExtensionError(f"extension {ext.name!r}: {msg}")

    for kind, forms, table in (("guard", ext.guard_forms, semantics.guards), ("effect", ext.effect_forms,
                                                                               semantics.effects)):
        for key, form in forms.items():
            if key not in table:
                fail(f"{kind}_forms gives a Promela form for {key!r}, which is no {kind} of the model; "
                     f"name one of its {kind}s (`proclife model --json` lists them)")
            if not callable(form):
                fail(f"{kind}_forms[{key!r}] is {form!r}; give a function returning Promela text")
    events = {e.name: e for e in spec.events}
    for fair in ext.fairness:
        if fair.event not in events or events[fair.event].actor == "internal":
            fail(f"fairness assumes event {fair.event!r}, which is no program or environment event of the model; "
                 "name one (`proclife model` lists the events)")
    for sc in ext.scopes:
        unknown = [e for e in (*sc.offers, *sc.args) if e not in events]
        if unknown:
            fail(f"scope {sc.name!r} offers {', '.join(map(repr, unknown))}, which the model does not declare; "
                 "name declared events")
    for trait in ext.traits:
        try:
            values = trait.table()
        except Exception as exc:  # the user's function: named, not a crash of ours
            fail(f"trait {trait.name!r} raised {type(exc).__name__}: {exc}; holds(start_method, (major, minor)) "
                 "must answer for every start method and version")
        wrong = [(m, v) for m, row in values.items() for v in row
                 if not isinstance(trait.holds(m, tuple(map(int, v.split(".")))), bool)]  # type: ignore[arg-type]
        if wrong:
            fail(f"trait {trait.name!r} answers something other than True or False for {wrong[0]}; return a bool")


def validate(spec: Spec, semantics: Semantics, blame: str = "the base model") -> None:
    """Refuse a model with a dangling name anywhere; each message says what to fix."""

    def fail(msg: str) -> None:
        raise ExtensionError(f"{blame}: {msg}")

    seen_states: set[tuple[str, str]] = set()
    for s in spec.states:
        if s.machine not in MACHINES:
            fail(f"state {s.name!r} is in machine {s.machine!r}; use one of {', '.join(MACHINES)}")
        if (s.machine, s.name) in seen_states:
            fail(f"state {s.machine}.{s.name} is declared twice; declare it once")
        if s.parent and (s.machine, s.parent) not in seen_states:
            fail(f"state {s.name!r} nests in {s.parent!r}, which is not declared before it; declare the parent first")
        seen_states.add((s.machine, s.name))
    events: dict[str, EventDef] = {}
    for e in spec.events:
        if e.name in events:
            fail(f"event {e.name!r} is declared twice; give the new event another name")
        if e.machine not in MACHINES:
            fail(f"event {e.name!r} is in machine {e.machine!r}; use one of {', '.join(MACHINES)}")
        if e.drive is not None and e.drive.how not in DRIVE_KINDS:
            fail(
                f"event {e.name!r} is driven by {e.drive.how!r}; use Drive(how=...) with one of "
                f"{', '.join(DRIVE_KINDS)}, or drive=None to mark it model-only"
            )
        if e.by not in BY_VALUES:
            fail(f"event {e.name!r} is acted by {e.by!r}; use one of {', '.join(BY_VALUES)}")
        if len(e.domains) != len(e.params):
            fail(f"event {e.name!r} has {len(e.params)} parameters but {len(e.domains)} domains; give one domain each")
        events[e.name] = e
    ids: set[str] = set()
    for r in spec.rules:
        if r.id in ids:
            fail(f"rule id {r.id!r} is used twice; rule ids must be unique")
        ids.add(r.id)
        if r.event not in events:
            fail(f"rule {r.id!r} is triggered by event {r.event!r}, which nobody declares; add an EventDef")
        if events[r.event].machine != r.machine:
            fail(f"rule {r.id!r} is in machine {r.machine!r} but event {r.event!r} belongs to {events[r.event].machine!r}")
        for name in (*r.src, *((r.dst,) if r.dst else ())):
            if (r.machine, name) not in seen_states:
                fail(f"rule {r.id!r} names state {name!r}, which machine {r.machine!r} does not have; declare it with StateDef")
        if r.dst and spec.expand(r.machine, r.dst) != (r.dst,):
            fail(f"rule {r.id!r} goes to compound state {r.dst!r}; name one of its sub-states: {', '.join(spec.expand(r.machine, r.dst))}")
        for g in r.when:
            if g.lstrip("!") not in semantics.guards:
                fail(f"rule {r.id!r} has guard {g!r}, which names nothing; add it to the extension's guards")
        for eff in r.effects:
            name, _, arg = eff.partition(":")
            if name not in semantics.effects:
                fail(f"rule {r.id!r} has effect {eff!r}, which names nothing; add it to the extension's effects")
            if name == "send" and arg not in events:
                fail(f"rule {r.id!r} sends event {arg!r}, which nobody declares")


def import_user_module(option: str, module_name: str) -> object:
    """Import the user's module, the current folder importable; whatever it raises is the user's fault."""
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # the user's import error must not read as a crash of ours
        raise ExtensionError(f"{option}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None


def user_attribute(option: str, target: str, example: str) -> object:
    """The object ``module:attribute`` (dotted attributes allowed) names, for the option ``option``."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ExtensionError(f"{option} {target!r}: write it as module:attribute, e.g. {example}")
    obj = import_user_module(f"{option} {target!r}", module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ExtensionError(f"{option} {target!r}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def declares_extension(fn: object) -> bool:
    """A factory says what it returns: ``def make() -> Extension`` (as a class or, postponed, as text)."""
    try:
        returns = inspect.signature(fn).return_annotation  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if isinstance(returns, str):
        return returns.rpartition(".")[2] == "Extension"
    return returns is Extension


def resolve(target: str) -> Extension:
    """Import ``module:attribute`` (the current folder is importable) and return its Extension.

    A callable is called only when it declares that it returns an Extension: ``--extend
    sys:exit`` must not run whatever it names.
    """
    option = f"--extend {target!r}"
    obj = user_attribute("--extend", target, "examples.zombie:EXTENSION")
    if callable(obj) and not isinstance(obj, Extension):
        if not declares_extension(obj):
            raise ExtensionError(
                f"{option} is a {type(obj).__name__} that does not declare it returns an Extension; proclife "
                "calls only a factory declared as `def make() -> Extension`, or name an Extension object"
            )
        try:
            obj = obj()
        except (Exception, SystemExit) as exc:
            raise ExtensionError(f"{option}: the factory raised {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, Extension):
        raise ExtensionError(
            f"{option} is a {type(obj).__name__}, not a proclife.model.core.extend.Extension; "
            f"build one with Extension(name=..., doc=..., rules=(...))"
        )
    return obj


def load(extensions: Sequence[str | Extension] = (), base: Model | None = None) -> Model:
    """The base model with each extension applied in order."""
    model = base or base_model()
    for ext in extensions:
        model = apply(model, resolve(ext) if isinstance(ext, str) else ext)
    return model
