"""Pure logic: pandas/numpy/scikit-learn functions with no Dagster import."""
