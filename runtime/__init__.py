"""proclife's runtime: drives and observes real processes on behalf of the model."""
