"""The model as Promela for SPIN: the transition relation, the checks, and the reading of pan's answers."""
