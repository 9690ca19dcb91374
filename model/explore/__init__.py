"""Exploration of the model's bounded state space: scopes, invariants and findings, symmetry, directed plans."""
