"""`dask worker --preload mlgate.cluster.preload`: import at the worker's start what mlgate's tasks run.

A worker imports the modules of the functions it is sent on its first task. Preloaded, a stage's first
pass on a long-lived cluster does not wait for pandas, pyarrow, scikit-learn and mlgate to load on every
worker. Importing is all it does (docs/scaling.md).
"""

import pyarrow.parquet  # noqa: F401
import sklearn.pipeline  # noqa: F401

import mlgate.cluster.data
import mlgate.cluster.evaluate
import mlgate.cluster.train
import mlgate.monitor.run  # noqa: F401
