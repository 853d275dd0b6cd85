"""Adaptive Card builders: pure functions from domain views to card JSON, no I/O."""
