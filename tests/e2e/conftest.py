import pytest
from ecomms_e2e.client import Api, login
from ecomms_e2e.stack import Stack, database_server, running


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system, started as ``make up`` does but on PostgreSQL and ephemeral ports."""
    workdir = tmp_path_factory.mktemp("stack")
    with running(Stack(workdir, database_server=database_server())) as stack:
        yield stack


@pytest.fixture(scope="session")
def admin(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "admin")["access"])


@pytest.fixture(scope="session")
def alice(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "alice")["access"])


@pytest.fixture(scope="session")
def bob(stack) -> Api:
    return Api(stack.gateway, login(stack.gateway, "bob")["access"])
