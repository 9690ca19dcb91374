"""Implementation profiles: how billiard, multiprocess or `python -O` depart from CPython, and rule diffs."""
