"""Diagrams drawn from the model: extracted into plain chart data, then rendered (graphviz, Mermaid)."""
