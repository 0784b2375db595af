"""This is where Django ends: every step the catalog takes around Django's ORM.

Code outside this package writes and reads through the ORM, or calls a function here. Inside,
each module holds one kind of trick, nearly all of them for speed and measured on the way
(services/catalog/README.md, section "Performance", gives the figures):

- :mod:`catalog.storage.copy`: rows sent with ``COPY`` in PostgreSQL's text format, in batches.
- :mod:`catalog.storage.products`: product ids from the sequence in one statement, products and
  their category links written with ``COPY``, updates as one ``unnest`` statement, skus looked up
  through one text parameter.
- :mod:`catalog.storage.stats`: aggregate deltas added through a temporary table, the products'
  memberships read with one array parameter, and the independent recomputation check_catalog
  compares against.
- :mod:`catalog.storage.listing`: the browse index's rows made, sorted and inserted by one
  statement from a line per product, deleted by primary key in bulk, keyset pages of a subtree
  read with their products in one statement (by price, merged from the epochs of product ids),
  and its recomputation for check_catalog.
- :mod:`catalog.storage.tree`: nested-set numbers written in one ``unnest`` statement.
- :mod:`catalog.storage.constraints`: deferred foreign-key checks run in psycopg's pipeline mode
  while the upload computes.
- :mod:`catalog.storage.reads`: the average_price read as a prepared statement of the connection,
  reconnecting once by itself (config/settings.py turns Django's connection health check off and
  psycopg's statement preparation on for it).
- :mod:`catalog.storage.memory`: Python's cycle collector held off while an upload runs.

Outside this package only the advisory lock (:mod:`catalog.locks`, a rule of correctness rather
than speed) and the migrations send SQL of their own.
"""
