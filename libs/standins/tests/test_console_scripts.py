"""Each stand-in as a process, as make up, compose and the benchmarks run it: it announces where
it listens, speaks its protocol there, and stops cleanly on SIGTERM."""

import contextlib
import gzip
import json
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import jwt
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ecomms_standins.otlp import OtlpReceiver

BIN = Path(sys.executable).parent


@contextlib.contextmanager
def started(script: str, *arguments: str, lines: int = 1) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run a console script on a free port; yield it and the lines it announces itself with."""
    process = subprocess.Popen(
        [str(BIN / script), "--port", "0", *arguments], stdout=subprocess.PIPE, text=True
    )
    try:
        said = "".join(process.stdout.readline() for _ in range(lines))
        assert said, f"{script} said nothing"
        yield process, said
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(10)
        process.stdout.close()
    assert code == 0, f"{script} did not stop cleanly on SIGTERM"


def port_in(said: str) -> int:
    return int(re.search(r"127\.0\.0\.1:(\d+)", said).group(1))


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def traces(*names: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "orders"
    scope_spans = resource_spans.scope_spans.add()
    for number, name in enumerate(names, start=1):
        span = scope_spans.spans.add()
        span.name = name
        span.trace_id = bytes(15) + b"\x01"
        span.span_id = bytes(7) + bytes([number])
    return request


def test_the_catalog_standin_answers_the_bulk_lookup_for_its_products():
    with started("ecomms-catalog-standin", "--products", "3") as (_, said):
        base = f"http://127.0.0.1:{port_in(said)}"
        status, body = get(f"{base}/products/lookup/?ids=2,4")
        assert status == 200
        assert json.loads(body) == {
            "products": [{"id": 2, "name": "Product 2", "price": "2.99", "currency": "USD"}],
            "missing": [4],
        }
        assert get(f"{base}/products/lookup/?ids=0")[0] == 400


def test_the_otlp_sink_accepts_exports_and_nothing_else():
    with started("ecomms-otlp-sink") as (_, said):
        base = f"http://127.0.0.1:{port_in(said)}"
        body = traces("GET /orders/").SerializeToString()
        protobuf = {"Content-Type": "application/x-protobuf"}
        assert post(f"{base}/v1/traces", body, protobuf)[0] == 200
        assert post(f"{base}/v1/metrics", body, protobuf)[0] == 404


def test_the_otlp_receiver_keeps_the_spans_of_gzipped_exports():
    receiver = OtlpReceiver().start()
    try:
        body = gzip.compress(traces("POST /orders/", "SELECT").SerializeToString())
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        assert post(f"{receiver.endpoint}/v1/traces", body, headers)[0] == 200
        spans = receiver.trace("00" * 15 + "01")
        assert [(s.service, s.name, s.parent_span_id) for s in spans] == [
            ("orders", "POST /orders/", ""),
            ("orders", "SELECT", ""),
        ]
    finally:
        receiver.stop()


def test_the_sms_standin_answers_its_health_check():
    with started("ecomms-sms-standin") as (_, said):
        assert get(f"http://127.0.0.1:{port_in(said)}/healthz") == (200, b"ok")


def test_the_smtp_sink_records_every_mail(tmp_path):
    record = tmp_path / "mail.jsonl"
    with started("ecomms-smtp-sink", "--record", str(record)) as (_, said):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.test", "b@x.test", "Hi"
        message.set_content("hello")
        with smtplib.SMTP("127.0.0.1", port_in(said), timeout=5) as client:
            client.send_message(message)
    [line] = [json.loads(line) for line in record.read_text().splitlines()]
    assert (line["mail_from"], line["rcpt_tos"]) == ("a@x.test", ["b@x.test"])
    assert line["subject"] == "Hi"


def test_the_local_jwks_serves_the_key_its_printed_tokens_are_signed_with():
    with started("ecomms-local-jwks", lines=3) as (_, said):
        url = re.search(r"JWKS on (\S+)", said).group(1)
        status, body = get(url)
        assert status == 200
        keys = {key.key_id: key.key for key in jwt.PyJWKSet.from_dict(json.loads(body)).keys}
        roles = {}
        for who, token in re.findall(r"(\w+) token: (\S+)", said):
            signer = keys[jwt.get_unverified_header(token)["kid"]]
            claims = jwt.decode(token, signer, algorithms=["RS256"], audience="ecomms")
            roles[who] = claims["roles"]
        assert roles == {"customer": ["customer"], "admin": ["customer", "admin"]}


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that sends back what it receives; yield its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(connection,), daemon=True).start()

    def echo(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            while data := connection.recv(1024):
                connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def round_trip(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"ping")
        try:
            return client.recv(1024)
        except ConnectionResetError:
            return b""


def test_the_tcpproxy_forwards_until_cut_and_again_once_restored(echo_server):
    upstream = f"127.0.0.1:{echo_server}"
    with started("ecomms-tcpproxy", "--upstream", upstream) as (process, said):
        port = port_in(said)
        assert round_trip(port) == b"ping"
        process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while round_trip(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert round_trip(port) == b""
        process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 5
        while not round_trip(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert round_trip(port) == b"ping"
