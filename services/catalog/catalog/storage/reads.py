"""Hot reads (average_price, browse pages, product detail): prepared statements of the connection,
reconnecting once by themselves."""

from decimal import Decimal

import psycopg
from django.db import NotSupportedError, OperationalError, connection

from catalog.models import Category, CategoryPriceStat
from ecomms_common.errors import sqlstate

FEATURE_NOT_SUPPORTED = "0A000"


def category_price_stat(
    *, slug: str, currency: str, include_descendants: bool
) -> tuple[int, Decimal | None] | None:
    """Return the count and sum of a category's products in a currency, or None for no category.

    One indexed lookup of the maintained aggregates. Raw SQL: this is the hot read, and building
    the ORM query costs more than running it.
    """
    prefix = "subtree" if include_descendants else "own"
    row = _read_one(
        f"SELECT s.{prefix}_count, s.{prefix}_sum FROM {Category._meta.db_table} c "  # noqa: S608 - names only
        f"LEFT JOIN {CategoryPriceStat._meta.db_table} s "
        "ON s.category_id = c.id AND s.currency = %s WHERE c.slug = %s",
        [currency, slug],
    )
    if row is None:
        return None
    return row[0] or 0, row[1]


def _read_one(sql: str, params: list) -> tuple | None:
    """Run a read-only query and return its first row (see :func:`read_rows`)."""
    rows = read_rows(sql, params, limit=1)
    return rows[0] if rows else None


def read_rows(sql: str, params: list, *, limit: int | None = None) -> list[tuple]:
    """Run a read-only query and return its rows (the first ``limit``), reconnecting once if
    the connection broke.

    The query is a prepared statement of the connection (planned once, not on every call: that
    halves the database's time for the average_price read). Django turns psycopg's prepared
    statements off; config/settings.py sets ``prepare_threshold`` so that they are on.

    The catalog runs without Django's per-request connection health check (a round trip of its
    own, as long as this whole read; see config/settings.py), so a connection the server dropped
    since its last use is found here, and the read, being idempotent, is sent again.
    """
    for attempt in (1, 2):
        try:
            connection.ensure_connection()
            # Django's cursors bind parameters client-side, and those cannot be prepared
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        except (OperationalError, NotSupportedError) as exc:
            if attempt == 2 or connection.in_atomic_block or not _worth_a_new_connection(exc):
                raise
            connection.close()
    raise AssertionError("unreachable")


def _worth_a_new_connection(exc: Exception) -> bool:
    """Return whether a read that failed this way succeeds again on a new connection.

    Besides a broken connection, that is a prepared statement whose columns a migration changed
    ("cached plan must not change result type"): a new connection prepares it again.
    """
    if isinstance(exc, OperationalError):
        return True
    return sqlstate(exc) == FEATURE_NOT_SUPPORTED
