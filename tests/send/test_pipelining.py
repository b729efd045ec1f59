"""SMTP PIPELINING (RFC 2920) against a hand-scripted server on 127.0.0.1 that can tell whether
the client waited for each reply: MAIL, RCPT and DATA go in one write only when offered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from commskit.send import make_transport

CLIENT_WAIT = 0.3  # how long the server waits, before answering MAIL, for the next command


@dataclass
class Relay:
    """What the scripted server saw, and how it answers."""

    pipelining: bool
    rcpt_reply: bytes = b"250 2.1.5 ok\r\n"
    early: list[bool] = field(default_factory=list)  # per MAIL: did RCPT come before our reply?
    messages: list[bytes] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending: list[bytes] = []
        rcpt_ok = False
        writer.write(b"220 relay.test ESMTP\r\n")
        while True:
            line = pending.pop(0) if pending else await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            self.commands.append(verb)
            if verb == b"EHLO":
                offer = b"250-PIPELINING\r\n" if self.pipelining else b""
                writer.write(b"250-relay.test\r\n" + offer + b"250 8BITMIME\r\n")
            elif verb == b"MAIL":
                try:
                    pending.append(await asyncio.wait_for(reader.readline(), CLIENT_WAIT))
                    self.early.append(True)
                except TimeoutError:
                    self.early.append(False)
                writer.write(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpt_ok = self.rcpt_reply.startswith(b"250")
                writer.write(self.rcpt_reply)
            elif verb == b"DATA":
                # 354 even when the recipient was refused: the case RFC 2920 §3.1 warns about
                writer.write(b"354 go ahead\r\n")
                data = []
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.messages.append(b"".join(data))
                writer.write(b"250 2.0.0 queued\r\n" if rcpt_ok else b"554 5.5.1 no recipient\r\n")
            elif verb == b"RSET":
                rcpt_ok = False
                writer.write(b"250 2.0.0 reset\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"500 5.5.2 what?\r\n")
            await writer.drain()
        writer.close()


MESSAGE = b"Subject: essai\r\nMessage-ID: <m@example.org>\r\n\r\nBonjour.\r\n"


async def deliver(relay: Relay, recipients: list[str]) -> tuple[list[str], int]:
    server = await asyncio.start_server(relay.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = make_transport(f"smtp://127.0.0.1:{port}", environ={})
    try:
        await transport.open()
        outcomes = []
        for rcpt in recipients:
            result = await transport.send("b@example.org", rcpt, MESSAGE, message_id="m")
            outcomes.append(f"{result.outcome} {result.code}")
        await transport.close()
    finally:
        server.close()
        await server.wait_closed()
    return outcomes, transport.connections_opened  # type: ignore[attr-defined]


@pytest.mark.parametrize("offered", [True, False], ids=["offered", "not-offered"])
def test_commands_are_pipelined_only_when_offered(offered: bool) -> None:
    relay = Relay(pipelining=offered)
    outcomes, connections = asyncio.run(deliver(relay, ["a@example.net", "b@example.net"]))
    assert outcomes == ["sent 250", "sent 250"]
    assert connections == 1
    # with PIPELINING, RCPT (and DATA) were already there before the server answered MAIL;
    # without it, the client waited for every reply
    assert relay.early == [offered, offered]
    assert relay.messages == [MESSAGE, MESSAGE]


def test_refused_recipient_with_data_accepted_anyway_ends_the_empty_message() -> None:
    relay = Relay(pipelining=True, rcpt_reply=b"550 5.1.1 no such user\r\n")
    outcomes, connections = asyncio.run(deliver(relay, ["gone@example.net"]))
    assert outcomes == ["permanent 550"]
    # the client ended the accepted DATA with a lone dot (an empty message), never the content,
    # then reset the session, which stayed usable
    assert relay.messages == [b""]
    assert relay.commands[-2:] == [b"RSET", b"QUIT"]
    assert connections == 1
