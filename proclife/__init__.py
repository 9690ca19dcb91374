"""proclife: a formal model of how a Python process lives and dies, and the tools that check it."""

__version__ = "0.1.0"
