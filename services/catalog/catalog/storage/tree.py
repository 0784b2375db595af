"""Nested-set numbers written in one statement (computed by catalog.tree.tree_rebuild)."""

from django.db import connection

from catalog.models import Category


def category_numbers_write(
    *, ids: list[int], lefts: list[int], rights: list[int], levels: list[int]
) -> None:
    """Set lft, rght and level of these categories (the i-th values for the i-th id).

    One ``UPDATE ... FROM unnest(...)`` however many rows, where mptt would save each node.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Category._meta.db_table} AS c "  # noqa: S608 - table name only
            "SET lft = v.lft, rght = v.rght, level = v.level "
            "FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) AS v(id, lft, rght, level) "
            "WHERE c.id = v.id",
            [ids, lefts, rights, levels],
        )
