"""The edge's transport wrapper: the writes of one loop turn leave as one, before any close."""

import asyncio

from gateway.edge.protocol import GatheredWrites


class RecordingTransport(asyncio.Transport):
    """Records what reaches the socket, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("192.0.2.1", 5000)}.get(name, default)


def test_a_head_and_body_written_in_one_turn_leave_in_one_write() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        transport = RecordingTransport()
        gathered = GatheredWrites(transport, asyncio.get_running_loop())
        gathered.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        gathered.write(b"{}")
        assert transport.calls == []  # nothing before the turn ends
        await asyncio.sleep(0)
        gathered.write(b"next")
        await asyncio.sleep(0)
        return transport.calls

    assert asyncio.run(scenario()) == [
        ("write", b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"),
        ("write", b"next"),
    ]


def test_closing_sends_what_was_written_first_and_nothing_after() -> None:
    async def scenario() -> list[tuple[str, bytes]]:
        transport = RecordingTransport()
        gathered = GatheredWrites(transport, asyncio.get_running_loop())
        gathered.write(b"answer")
        gathered.close()
        gathered.write(b"too late")
        await asyncio.sleep(0)
        assert gathered.is_closing()
        assert gathered.get_extra_info("peername") == ("192.0.2.1", 5000)
        return transport.calls

    assert asyncio.run(scenario()) == [("write", b"answer"), ("close", b"")]
