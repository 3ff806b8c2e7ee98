"""Drift and performance monitoring of production data against a model version's reference.

`run` is `mlgate monitor`; `reference` finds what a batch is compared with, `inputs` reads the batch in
chunks, `accumulate` counts it, `drift` and `stats` judge it, `performance` scores labelled rows,
and `report` writes monitor.md.
"""
