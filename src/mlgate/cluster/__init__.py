"""The dask engine: the stages' data-sized work on a Dask cluster, partition by partition.

`connect` opens the client (TLS, bounded timeout), `frames` reads sources and writes partitioned Parquet,
`data`, `train` and `evaluate` are the stages' cluster halves, and `sketch` holds the mergeable summaries
(quantile sketches, histograms) that partitions are reduced to.
"""
