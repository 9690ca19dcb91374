"""``python -m proclife``: the same as the ``proclife`` command."""

from proclife.cli import main

main()
