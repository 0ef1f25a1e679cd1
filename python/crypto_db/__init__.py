"""crypto_db: the price server of the concurrency lessons, as one binary.

The wheel installs the ``crypto_db`` command; ``python -m crypto_db`` runs
the same binary (see ``__main__.py``). There is no Python API: the lessons
talk to the server over HTTP.
"""
