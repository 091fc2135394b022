"""Thin asset modules: read inputs, call a pure function from ``core``, attach metadata."""
