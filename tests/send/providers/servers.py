"""Local Brevo and Mailjet API servers on loopback, built from the documented samples beside them
(samples/brevo.json, samples/mailjet.json, each with its source URLs).

They check what the real APIs check (the key, the required fields, the address syntax, Mailjet's
50-message limit), answer with the documented bodies, keep every accepted message, honour Brevo's
idempotencyKey, and can be scripted to fail: a latency, an HTTP error for the n-th request
(429 with the rate-limit headers, 500), or the connection dropped *after* the messages were kept
(the answer lost: the case the transports report as ``unknown``).

Run as a script (``python servers.py brevo|mailjet PORT LATENCY``) for the benchmark: it prints
``ready`` and counts the messages it accepted on SIGTERM.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).with_name("samples")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sample(provider: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{provider}.json").read_text(encoding="utf-8"))


@dataclass
class Kept:
    """One message the server accepted."""

    rcpt: str
    message_id: str
    body: dict[str, Any]


@dataclass
class Script:
    latency: float = 0.0
    # request number (1-based, counting POSTs) → (status, headers) to answer instead, or None
    fault: Callable[[int], tuple[int, dict[str, str]] | None] | None = None
    # request number → True: keep the messages, then close the connection without answering
    drop_after_accept: Callable[[int], bool] | None = None


@dataclass
class State:
    key: str
    script: Script = field(default_factory=Script)
    messages: list[Kept] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_rcpt(self) -> dict[str, list[Kept]]:
        out: dict[str, list[Kept]] = {}
        with self.lock:
            for m in self.messages:
                out.setdefault(m.rcpt, []).append(m)
        return out


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    state: State
    provider: str

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.provider == "brevo" and self.path == "/v3/account":
            self._reply(200, {"email": "equipe@example.org", "companyName": "Équipe"})
        elif self.provider == "mailjet" and self.path.startswith("/v3/REST/message"):
            from urllib.parse import parse_qs, urlsplit

            wanted = parse_qs(urlsplit(self.path).query).get("CustomID", [""])[0]
            with self.state.lock:
                found = [m for m in self.state.messages if m.message_id == wanted]
            data = [{"ID": i + 1, "CustomID": m.message_id} for i, m in enumerate(found)]
            self._reply(200, {"Count": len(data), "Data": data, "Total": len(data)})
        else:
            self._reply(404, {"code": "not_found", "message": "not found"})

    def _authorised(self) -> bool:
        if self.provider == "brevo":
            if self.headers.get("api-key") == self.state.key:
                return True
            self._reply(401, sample("brevo")["responses"]["401"])
            return False
        expected = "Basic " + base64.b64encode(self.state.key.encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self._reply(401, sample("mailjet")["responses"]["401"])
        return False

    def do_POST(self) -> None:
        body = self._body()
        if not self._authorised():
            return
        state = self.state
        with state.lock:
            state.posts += 1
            n = state.posts
        if state.script.latency:
            time.sleep(state.script.latency)
        fault = state.script.fault(n) if state.script.fault else None
        if fault is not None:
            status, headers = fault
            kind = "too_many_requests" if status == 429 else "internal_error"
            self._reply(status, {"code": kind, "message": "scripted"}, headers)
            return
        if self.provider == "brevo" and self.path == "/v3/smtp/email":
            status, answer = self._brevo(body)
        elif self.provider == "mailjet" and self.path == "/v3.1/send":
            status, answer = self._mailjet(body)
        else:
            status, answer = 404, {"code": "not_found", "message": "unknown path"}
        if state.script.drop_after_accept is not None and state.script.drop_after_accept(n):
            self.close_connection = True
            self.connection.shutdown(2)  # the messages are kept; the answer never comes
            return
        self._reply(status, answer)

    # --- Brevo: POST /v3/smtp/email ----------------------------------------------------------

    def _brevo(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, {"code": "bad_request", "message": "Input must be a valid JSON object"}
        sender = body.get("sender") or {}
        if not sender.get("email"):
            return 400, sample("brevo")["responses"]["400_missing"]
        to = body.get("to") or []
        if not to:
            return 400, {"code": "missing_parameter", "message": "to is missing"}
        if any(not _EMAIL.match(str(t.get("email", ""))) for t in to):
            return 400, sample("brevo")["responses"]["400_invalid"]
        if not body.get("subject"):
            return 400, {"code": "missing_parameter", "message": "subject is missing"}
        if not (body.get("htmlContent") or body.get("textContent")):
            return 400, {"code": "missing_parameter", "message": "htmlContent is missing"}
        headers = body.get("headers") or {}
        key = _header(headers, "idempotencyKey")
        with self.state.lock:
            if key and key in self.state.idempotency:
                return 201, self.state.idempotency[key]  # processed once
            answer = {"messageId": f"<{uuid.uuid4().hex}@relay.example.brevo>"}
            for t in to:
                self.state.messages.append(Kept(t["email"], _header(headers, "Message-Id"), body))
            if key:
                self.state.idempotency[key] = answer
        return 201, answer

    # --- Mailjet: POST /v3.1/send ------------------------------------------------------------

    def _mailjet(self, body: Any) -> tuple[int, dict[str, Any]]:
        messages = body.get("Messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return 400, {"ErrorMessage": "Messages is missing", "StatusCode": 400}
        if len(messages) > 50:
            return 400, {
                "ErrorIdentifier": str(uuid.uuid4()),
                "ErrorCode": "send-0001",
                "StatusCode": 400,
                "ErrorMessage": "Send API v3.1 accepts at most 50 messages per call.",
            }
        answers = [self._mailjet_one(m) for m in messages]
        status = 200 if all(a["Status"] == "success" for a in answers) else 400
        return status, {"Messages": answers}

    def _mailjet_one(self, message: dict[str, Any]) -> dict[str, Any]:
        to = message.get("To") or []
        bad = next((i for i, t in enumerate(to) if not _EMAIL.match(str(t.get("Email", "")))), None)
        if not to or bad is not None or not (message.get("From") or {}).get("Email"):
            email = to[bad]["Email"] if bad is not None else ""
            return {
                "Status": "error",
                "Errors": [
                    {
                        "ErrorIdentifier": str(uuid.uuid4()),
                        "ErrorCode": "mj-0013",
                        "StatusCode": 400,
                        "ErrorMessage": f'"{email}" is an invalid email address.',
                        "ErrorRelatedTo": [f"To[{bad or 0}].Email"],
                    }
                ],
            }
        out = []
        with self.state.lock:
            for t in to:
                self.state.messages.append(Kept(t["Email"], message.get("CustomID", ""), message))
                n = len(self.state.messages)
                out.append(
                    {
                        "Email": t["Email"],
                        "MessageUUID": str(uuid.uuid4()),
                        "MessageID": n,
                        "MessageHref": f"https://api.mailjet.com/v3/REST/message/{n}",
                    }
                )
        return {
            "Status": "success",
            "CustomID": message.get("CustomID", ""),
            "To": out,
            "Cc": [],
            "Bcc": [],
        }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client killed mid-request (the kill -9 loop) is expected, not news


class ProviderServer:
    """A Brevo or Mailjet server in a thread on 127.0.0.1 (``url``, ``state``, ``stop()``)."""

    def __init__(self, provider: str, *, key: str, port: int = 0, script: Script | None = None):
        self.state = State(key=key, script=script or Script())
        handler = type(
            f"{provider}Handler", (_Handler,), {"state": self.state, "provider": provider}
        )
        self.httpd = _QuietServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 512
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    import signal

    provider, port, latency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    key = sys.argv[4] if len(sys.argv) > 4 else "bench-key"
    server = ProviderServer(provider, key=key, port=port, script=Script(latency=latency))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", server.url, flush=True)
    done.wait()
    print(len(server.state.messages), flush=True)


if __name__ == "__main__":
    main()
