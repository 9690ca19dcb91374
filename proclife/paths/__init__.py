"""Paths, the language ``replay`` and ``predict`` read and ``explore --json`` writes (docs/path-schema.md)."""
