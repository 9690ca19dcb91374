"""Examples: model extensions and deliberately wrong implementations."""
