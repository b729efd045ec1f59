"""The send stage builds unsubscribe links and identifier domains with commskit.policy only."""

from __future__ import annotations

import dataclasses
import mailbox
from email import message_from_bytes, policy

import pytest

from commskit.config import SenderSettings, Settings
from commskit.policy import FALLBACK_DOMAIN, unsubscribe_url
from commskit.send import CampaignRunner, SendContext, SendOptions

BASES = [
    "https://ex.org/u/{token}",  # the token in the path
    "https://ex.org/u?list=x",  # a query already there
    "https://ex.org/u",  # a plain base
    "https://ex.org/u#fin",  # a fragment: the token goes in the query, before it
]


def _with_base(make_runner, people, base: str, *, test: bool = False) -> CampaignRunner:
    built = make_runner(people(1))
    return CampaignRunner(
        built.job,
        repo=built.repo,
        context=dataclasses.replace(built.ctx, unsubscribe_url=base),
        transport_factory=built.transport_factory,
    )


def _links(ws) -> list[str]:
    box = mailbox.Maildir(ws.path("out/outbox"), create=False)
    out = []
    for m in box:
        msg = message_from_bytes(m.as_bytes(), policy=policy.default)
        out.append(str(msg["List-Unsubscribe"]).split(",")[0].strip().strip("<>"))
    return out


@pytest.mark.parametrize("base", BASES)
def test_send_writes_the_policys_unsubscribe_link(ws, make_runner, people, base) -> None:
    _with_base(make_runner, people, base).run(SendOptions(yes=True))
    # the job's token maker (conftest) gives "tok<id>-<list>"
    assert _links(ws) == [unsubscribe_url(base, "tok1-infolettre")]


@pytest.mark.parametrize("base", BASES)
def test_a_test_copy_carries_the_placeholder_token(ws, make_runner, people, base) -> None:
    _with_base(make_runner, people, base).run(SendOptions(test_address="moi@example.org"))
    assert _links(ws) == [unsubscribe_url(base, "test-copy")]


def test_identifier_domain_falls_back_to_the_policys_domain() -> None:
    settings = Settings(sender=SenderSettings(from_="", domain=""))
    assert SendContext.from_settings(settings, b"k" * 32).domain == FALLBACK_DOMAIN
    named = Settings(sender=SenderSettings(from_="Équipe <lettres@mobilites.example>"))
    assert SendContext.from_settings(named, b"k" * 32).domain == "mobilites.example"
    configured = Settings(sender=SenderSettings(from_="a@b.example", domain="ids.example"))
    assert SendContext.from_settings(configured, b"k" * 32).domain == "ids.example"
