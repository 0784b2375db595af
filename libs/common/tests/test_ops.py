import socket
import urllib.request

import pytest
from django.db import connections

from ecomms_common.ops_server import serving_ops
from ecomms_common.testing.contract import BrokerReadinessContract, OpsEndpointsContract


class TestOpsEndpoints(OpsEndpointsContract):
    wsgi_module = "tests.wsgi"


class TestBrokerReadiness(BrokerReadinessContract):
    pass


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(api_client):
    connection = connections["default"]
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1
    try:
        response = api_client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["message"] == "Unreachable: database."
    assert error["details"]["checks"]["database"].startswith("OperationalError")
    assert error["details"]["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_readyz_names_every_failing_dependency(api_client, settings):
    settings.AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"
    settings.READINESS_CHECKS = ["broker"]
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Unreachable: broker."


def test_serving_ops_answers_for_the_block_and_frees_its_port_when_it_fails():
    failing = pytest.raises(RuntimeError, match="the work failed")
    with failing, serving_ops(host="127.0.0.1", port=0) as server:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
        raise RuntimeError("the work failed")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
