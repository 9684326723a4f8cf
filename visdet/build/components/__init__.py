"""Schemas (with their factories) of the model and data components, one module per family."""
