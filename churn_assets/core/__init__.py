"""Pure logic: pandas, numpy and scikit-learn functions with no Dagster import, one folder per domain.

Layers, top down (a folder may import those below it, never above): ``monitoring`` and ``serving``; ``modeling``;
``registry`` and ``warehouse``; ``intake`` and ``simulation``; the modules at the root (``days``, ``quality``,
``credentials``). ``pyproject.toml`` states the same as import-linter contracts, checked by the test suite.
"""
