"""Deferred constraint checks, run by the server while this process goes on computing."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def foreign_keys_checked_meanwhile() -> Iterator[None]:
    """Have PostgreSQL check the transaction's pending foreign keys while the block computes.

    Django declares foreign keys DEFERRABLE INITIALLY DEFERRED, so the server checks each new
    link row at COMMIT, about a fifth of an upload's time, with this process waiting. Here
    ``SET CONSTRAINTS ALL IMMEDIATE`` runs them at once, sent in pipeline mode so that the block
    goes on meanwhile; its end waits for them (a violation raises IntegrityError there). The rest
    of the transaction checks its constraints statement by statement.
    """
    with connection.wrap_database_errors, connection.connection.pipeline():
        with connection.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield
