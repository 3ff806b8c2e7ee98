"""Serving: the BentoML service, its request schema, and the self-contained bento that carries the model.

`service` imports BentoML and runs inside the bento; `bento` builds and containerises it from a repository.
Neither imports DVC, so the `serve` extra is enough to run the service.
"""
