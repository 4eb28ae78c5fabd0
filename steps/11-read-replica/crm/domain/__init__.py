"""The customers as the business sees them: plain Python, no framework.

Nothing here imports Django, ninja, pydantic or Redis (an import-linter contract,
tests/test_layers.py), so the rules below run and are tested without any of them.
"""
