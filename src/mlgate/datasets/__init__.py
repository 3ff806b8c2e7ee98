"""Loading, checking, splitting and profiling tabular data."""
