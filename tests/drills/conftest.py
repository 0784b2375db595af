import os
import signal
import time

import pytest
from ecomms_drills.ledger import Tally
from ecomms_drills.outside import Behaviour
from ecomms_drills.stack import DrillStack
from ecomms_e2e.client import Api, login
from ecomms_e2e.phone import verify_phone
from ecomms_e2e.stack import ROOT, database_server, running

REPORT = ROOT / "var" / "drills" / "report.md"
HEADER = [
    "| drill | what the client saw | orders committed | SMS | emails | permanent failures |",
    "|---|---|---|---|---|---|",
]
PHONE = "+254711222333"
_lines: list[str] = []
_started = time.monotonic()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole system with fault handles: proxies, in-process SMS and SMTP providers."""
    workdir = tmp_path_factory.mktemp("drills")
    with running(DrillStack(workdir, database_server=database_server())) as stack:
        yield stack


@pytest.fixture(scope="session")
def product(stack) -> int:
    admin = Api(stack.gateway, login(stack.gateway, "admin")["access"])
    upload = {
        "name": "Drill Tea",
        "description": "Fault drill product",
        "price": "2.50",
        "currency": "USD",
        "sku": "DRILL-1",
        "categories": [["All Products", "Drills"]],
    }
    response = admin.post("/products/upload/", json={"products": [upload]})
    assert response.status_code == 201, response.text
    return response.json()["created"][0]


@pytest.fixture(scope="session")
def alice(stack) -> Api:
    api = Api(stack.gateway, login(stack.gateway, "alice")["access"])
    # Order SMS go only to a number confirmed by the code texted to it.
    assert verify_phone(api, stack.outside.sms.server.record, PHONE)["phone_verified"] is True
    return api


@pytest.fixture(autouse=True)
def healed(stack):
    """After each drill, whatever it did: proxies restored, stopped processes continued, killed
    ones started again, providers accepting; so that one failed drill does not fail the next."""
    yield
    for proxy in stack.proxies.values():
        proxy.restore()
    stack.outside.behave(Behaviour.ACCEPT)
    for process in stack.processes:
        if process.exited() is None:
            os.killpg(process.popen.pid, signal.SIGCONT)
        else:
            stack.restart(process.name)


@pytest.fixture
def report():
    """Call with the drill's name, what the client saw and its tally: one line of the report,
    printed at the end of the run and written to var/drills/report.md."""

    def add(drill: str, client_saw: str, tally: Tally) -> None:
        _lines.append(tally.line(drill, client_saw))

    return add


def pytest_terminal_summary(terminalreporter):
    if not _lines:
        return
    took = time.monotonic() - _started
    table = [*HEADER, *_lines]
    terminalreporter.write_sep("=", "fault drills")
    for line in table:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"drill suite took {took:.0f} s")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Fault drills: last run\n\n"
        "Written by `make drills` (tests/drills). SMS and emails: messages the provider "
        "accepted; permanent failures: deliveries the notifier recorded as `failed`.\n\n"
        + "\n".join(table)
        + f"\n\nSuite time: {took:.0f} s.\n",
        encoding="utf-8",
    )
