"""The git-tracked model registry (registry.yaml): versions, aliases and an append-only events history.

`document` stores the file, `operations` changes it, `verify` checks it, `lineage` gathers what a new
version records, `render` prints it.
"""
