"""Throwaway PostgreSQL databases for the benchmarks (every bench venv has psycopg)."""

import psycopg


def database_recreate(server: str, name: str) -> None:
    """Make ``name`` an empty database on ``server`` (a postgres:// URL with no database)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def database_drop(server: str, name: str) -> None:
    """Drop ``name`` from ``server``, closing whatever still uses it."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
