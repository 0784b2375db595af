"""The catalog lock: one PostgreSQL advisory lock that every catalog writer takes.

django-mptt does no locking of its own, and the price aggregates must see a tree that does not
move under them: every write runs in one transaction behind :func:`catalog_lock`. An upload that
only adds products under existing categories takes it shared, beside other such uploads; every
other write takes it exclusively. Reads never take it.
"""

from django.db import connection

# An arbitrary constant, the same in every catalog process.
CATALOG_LOCK_KEY = 0x636174616C6F67


class ExclusiveLockNeeded(Exception):
    """A writer holding the lock shared has found something it may not write so."""


def catalog_lock(*, shared: bool = False) -> None:
    """Wait for, then hold until commit, the lock every catalog writer takes.

    Shared only for uploads that add products and nothing else (see
    :func:`catalog.services.products_upload`): the tree and the existing products cannot change
    under them, and what they add to the aggregates commutes (PostgreSQL's row locks order their
    increments of the same rows).
    """
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [CATALOG_LOCK_KEY])
