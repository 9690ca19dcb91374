"""The traced command line: an interpreter, its flags, then a script, ``-m module`` or ``-c code``.

The observer reaches every Python process through a ``sitecustomize`` on PYTHONPATH, so a run
whose flags ignore PYTHONPATH (``-E``, ``-I``) or skip the ``site`` module (``-S``, ``-I``)
cannot be traced; it is refused before anything starts.
"""

from __future__ import annotations

from collections.abc import Sequence

from proclife.trace.errors import TraceUsageError

_REFUSED = {
    "I": "-I (isolated mode ignores PYTHONPATH and the user's site)",
    "E": "-E (ignores PYTHONPATH)",
    "S": "-S (skips the site module, so no sitecustomize runs)",
}
_WITH_VALUE = set("WX")  # -W arg, -X opt: the value is the rest of the word or the next word
_ENDS_FLAGS = set("cm")  # -c code, -m module: what follows belongs to the program


def check_command(argv: Sequence[str]) -> list[str]:
    """The command line as given, once its interpreter flags are known to let the observer load."""
    if not argv:
        raise TraceUsageError("no program to trace: give one after --, e.g. proclife trace -- python app.py")
    words = list(argv)
    index = 1
    while index < len(words):
        word = words[index]
        if word == "-" or not word.startswith("-") or word == "--":
            break
        if word.startswith("--"):
            index += 2 if word == "--check-hash-based-pycs" else 1
            continue
        index += 1
        for position, flag in enumerate(word[1:], start=1):
            if flag in _REFUSED:
                raise TraceUsageError(
                    f"cannot trace {' '.join(words)}: the interpreter flag {_REFUSED[flag]} keeps the observer "
                    f"from loading; run the program without {'-' + flag}")
            if flag in _WITH_VALUE | _ENDS_FLAGS:
                if position == len(word) - 1:
                    index += 1  # the value is the next word
                if flag in _ENDS_FLAGS:
                    return words
                break
    return words
