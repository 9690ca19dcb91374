"""The core of the model: its vocabulary (spec), the base rules, what they mean, and the engine that runs them."""
