"""Thin Dagster wiring, one module per group, over the plain functions in the other packages."""
