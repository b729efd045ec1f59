"""The mailto: of List-Unsubscribe carries the recipient's token (issue 13 item 3).

The token travels percent-encoded (RFC 6068) in the subject and the body of the mailto URI, so
the mail a client sends back (Apple Mail, Gmail, Outlook) tells ``commskit bounces`` whom to
unsubscribe from which list; a test copy carries the token valid for nobody.
"""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

from commskit.policy import unsubscribe_mailto
from commskit.send import SendOptions
from commskit.send.identity import TEST_TOKEN


def _outbox(ws):
    box = mailbox.Maildir(ws.path("out/outbox"), create=False)
    return [message_from_bytes(m.as_bytes(), policy=policy.default) for m in box]


def _uris(msg) -> tuple[str, str]:
    https, mailto = (part.strip().strip("<>") for part in str(msg["List-Unsubscribe"]).split(","))
    return https, mailto


def test_policy_encodes_the_token_in_subject_and_body() -> None:
    uri = unsubscribe_mailto("desinscription@example.org", "AbC-_9xyz")
    assert uri == (
        "mailto:desinscription@example.org"
        "?subject=unsubscribe%20AbC-_9xyz&body=unsubscribe%20AbC-_9xyz"
    )
    query = parse_qs(urlsplit(uri).query)
    assert query == {"subject": ["unsubscribe AbC-_9xyz"], "body": ["unsubscribe AbC-_9xyz"]}
    # a configured mailto: prefix or query is not doubled; no token: the address as configured
    assert unsubscribe_mailto("mailto:u@example.org?subject=x", "T") == (
        "mailto:u@example.org?subject=unsubscribe%20T&body=unsubscribe%20T"
    )
    assert unsubscribe_mailto("u@example.org", "") == "mailto:u@example.org"
    # the address itself may carry it (for clients that drop the subject), when asked to
    assert unsubscribe_mailto("u+{token}@example.org", "T") == (
        "mailto:u+T@example.org?subject=unsubscribe%20T&body=unsubscribe%20T"
    )
    assert unsubscribe_mailto("u+{token}@example.org", "") == "mailto:u@example.org"


def test_each_message_mailto_carries_the_token_of_its_url(ws, make_runner, people) -> None:
    report = make_runner(people(3)).run(SendOptions(yes=True))
    assert report.sent == 3
    seen = set()
    for msg in _outbox(ws):
        https, mailto = _uris(msg)
        token = parse_qs(urlsplit(https).query)["t"][0]
        assert token.startswith("tok")
        assert mailto == unsubscribe_mailto("desabonnement@example.org", token)
        seen.add(token)
    assert len(seen) == 3  # one per recipient


def test_a_test_copy_mailto_carries_the_token_valid_for_nobody(ws, make_runner, people) -> None:
    make_runner(people(2)).run(SendOptions(test_address="moi@example.org"))
    (msg,) = _outbox(ws)
    _https, mailto = _uris(msg)
    assert mailto == unsubscribe_mailto("desabonnement@example.org", TEST_TOKEN)
