import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ecomms_common.correlation import bind_request_id, current_request_id
from ecomms_common.http import OutboundSession


@pytest.fixture
def header_echo_server():
    """A local HTTP service that answers with the X-Request-ID it received."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"received_request_id": self.headers.get("X-Request-ID")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_the_request_id_travels_to_the_next_service(api_client, header_echo_server):
    request_id = str(uuid.uuid4())
    response = api_client.get("/relay/", {"url": header_echo_server}, HTTP_X_REQUEST_ID=request_id)
    assert response.status_code == 200
    assert response.json() == {"received_request_id": request_id}
    assert response["X-Request-ID"] == request_id


def test_a_non_uuid_request_id_is_replaced(api_client, header_echo_server):
    response = api_client.get(
        "/relay/", {"url": header_echo_server}, HTTP_X_REQUEST_ID="x\nforged-log-line"
    )
    forwarded = response.json()["received_request_id"]
    assert forwarded == response["X-Request-ID"]
    assert uuid.UUID(forwarded)


def test_outside_a_request_no_header_is_invented(header_echo_server):
    with bind_request_id() as request_id:
        assert current_request_id() == request_id
    assert OutboundSession().get(header_echo_server).json() == {"received_request_id": None}


def test_a_caller_given_header_wins(header_echo_server):
    with bind_request_id("11111111-2222-4333-8444-555555555555"):
        answer = OutboundSession().get(header_echo_server, headers={"X-Request-ID": "mine"})
    assert answer.json() == {"received_request_id": "mine"}


def test_outbound_calls_always_have_a_timeout():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        with pytest.raises(Exception) as caught:
            OutboundSession(timeout=0.3).get(f"http://127.0.0.1:{port}/")
    finally:
        listener.close()
    assert "timed out" in str(caught.value).lower()


def test_log_lines_are_json_with_service_and_request_id(api_client, capsys):
    from django.conf import settings

    handler = logging.getLogger().handlers[0]
    request_id = str(uuid.uuid4())
    with bind_request_id(request_id):
        record = logging.LogRecord(
            "orders.test", logging.INFO, __file__, 1, "placed %s", ("x",), None
        )
        for log_filter in handler.filters:
            log_filter.filter(record)
        line = json.loads(handler.format(record))
    assert line["message"] == "placed x"
    assert line["level"] == "INFO"
    assert line["logger"] == "orders.test"
    assert line["request_id"] == request_id
    assert line["service"] == settings.SERVICE_NAME
