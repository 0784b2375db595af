import os

import pytest
from ecomms_e2e.client import Api, login
from ecomms_e2e.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started as ``make up`` does but on PostgreSQL and ephemeral ports."""
    stack = Stack(
        tmp_path_factory.mktemp("stack"),
        database_server=os.environ.get(
            "TEST_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432"
        ),
    )
    try:
        stack.start()
        yield stack
    finally:
        dead = stack.dead()
        stack.stop()
        if dead:
            print("\n\n".join(dead))


@pytest.fixture(scope="session")
def admin(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "admin")["access"])


@pytest.fixture(scope="session")
def alice(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "alice")["access"])


@pytest.fixture(scope="session")
def bob(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "bob")["access"])
