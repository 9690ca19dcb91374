"""Short human text for a rule's parts, shared by every diagram and the ``proclife model`` listing."""

from __future__ import annotations

from proclife.model.core.spec import Rule


def guards(rule: Rule, hide: tuple[str, ...] = ()) -> str:
    """``[a, !b]``, or nothing when the rule has no guard left to show."""
    shown = [g for g in rule.when if g not in hide]
    return f" [{', '.join(shown)}]" if shown else ""


def exit_code(effect: str, params: tuple[str, ...]) -> str:
    """The exit code an effect ``code:...`` records, as a reader would write it."""
    how = effect.partition(":")[2]
    if how == "sys_exit":
        return f"exit code from sys.exit({', '.join(params) or 'arg'})"
    if how == "low_byte":
        return f"exit code {', '.join(params) or 'n'} & 0xFF"
    return f"exit code {how}"


def effects(rule: Rule, params: tuple[str, ...] = ()) -> str:
    """The effects worth a reader's attention, exit codes first; empty if none."""
    codes = [exit_code(e, params) for e in rule.effects if e.startswith("code:")]
    sent = [f"sends {e.partition(':')[2]}" for e in rule.effects if e.startswith("send:")]
    rest = [e for e in rule.effects if not e.startswith(("code:", "send:")) and e != "die"]
    return ", ".join(codes + sent + rest)


def call_result(rule: Rule) -> str:
    """What the caller sees: ``-> value`` or ``raises Type('message')``."""
    if rule.outcome.raises:
        kind, message = rule.outcome.raises
        return f"raises {kind}({message!r})"
    return "" if rule.outcome.returns is None else f"→ {rule.outcome.returns}"


def rule_text(rule: Rule, params: tuple[str, ...] = (), hide: tuple[str, ...] = ()) -> str:
    """One line: ``event [guards] → result / effects``."""
    text = rule.event + guards(rule, hide)
    result = call_result(rule)
    if result:
        text += " " + result
    more = effects(rule, params)
    if more:
        text += " / " + more
    elif rule.dst is None and not result:
        text += " (no change)"
    return text
