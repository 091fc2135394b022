"""Dagster helpers that define nothing: check results, metadata, run tags, the model's metadata, warnings of
beta APIs, and the one module using Dagster's internals. May import ``core``, ``settings`` and Dagster.
"""
