"""The send use cases: send or check a campaign, send the digest, read the send log.

Each function takes a :class:`SendSetup` (what the composition root hands over: settings, the
store, the contact book, the secret, and how campaign files are found and compiled) and calls the
stages: the audience for recipients and suppression, compose/render through the compile
functions, the send stage's job builders and runner. :class:`commskit.Workspace`'s send methods
are one call each into this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CommskitError, PreflightError
from ..progress import Progress
from ..send.digest import DigestRecipients, period_key
from ..send.jobs import (
    address_recipients,
    make_job,
    make_runner,
    refuse_example_sender,
    sample_recipient,
    with_legal_basis,
)
from ..send.runner import PreflightReport, SendJob, SendOptions, SendReport
from ..send.status import CampaignCheck, preflight_issues, rate_warning
from .doctor import doctor_warning
from .events import record_invitations

if TYPE_CHECKING:
    from ..audience import Contact, ContactBook, Segment
    from ..compose.campaign import Campaign
    from ..config import SendingSettings, Settings
    from ..events.model import EventSpec
    from ..feeds import Digest
    from ..render.compiled import CompiledCampaign
    from ..render.variants import CompiledVariants, LanguageCounts
    from ..send.runner import CampaignRunner
    from ..store import Store
    from ..store.sends import SendRepo


@dataclass(frozen=True)
class SendSetup:
    """What the send use cases take from the composition root (``Workspace`` builds it)."""

    settings: Settings
    store: Store
    contacts: ContactBook
    #: the signing key, loaded when first needed
    secret: Callable[[], bytes]
    root: Path
    #: load a campaign file (a path, or a name in the campaigns folder)
    load_campaign: Callable[[Path], Campaign]
    #: resolve a campaign's path or name to its file; raises CampaignError
    find_campaign: Callable[[Path], Path]
    #: compile a campaign, its veille window ending at the given time (None: now)
    compile_campaign: Callable[[Campaign, datetime | None], CompiledCampaign | CompiledVariants]
    #: compile a veille digest for a list
    compile_digest: Callable[[Digest, str], CompiledCampaign]
    #: the same pieces on a new database connection (for a forked sending process)
    reopen: Callable[[], SendSetup]

    def segment(self, expression: str, list_name: str | None = None) -> Segment:
        """Return a send's recipients: suppressed ones kept (pre-flight counts and logs them)."""
        return self.contacts.segment(expression, include_suppressed=True, list_name=list_name)


def send_campaign(
    setup: SendSetup,
    campaign: Campaign | str | os.PathLike[str],
    *,
    options: SendOptions | None = None,
    audience: str | None = None,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
    warn: Callable[[str], None] | None = None,
) -> SendReport:
    """Send (or dry-run, or test) a campaign to its audience; re-running resumes.

    ``audience`` overrides the campaign's ``audience:`` (a segment name or expression).
    The warnings about the sender's standing (the last doctor run, the last campaigns' bounce
    and complaint rates) are given to ``warn`` before pre-flight starts, so they come before
    anything is sent; they are also among the pre-flight warnings (``confirm`` sees them) and
    in the report. They never stop a send.
    """
    options = options or SendOptions()
    campaign = _loaded(setup, campaign)
    expression = audience or campaign.audience
    if not expression and not options.test_address:
        raise PreflightError(
            f"campaign {campaign.id!r} has no audience",
            path=campaign.path,
            hint="Add 'audience: <segment>' to its front matter, or pass --audience",
        )
    recipients: Segment | list[Contact] = []
    if expression:
        recipients = setup.segment(expression, campaign.list_name)
        if not options.test_address and recipients.count() == 0:
            raise PreflightError(
                f"audience {expression!r} of campaign {campaign.id!r} selects nobody",
                path=campaign.path,
                hint="Check it with `commskit segment`, or import contacts first",
            )
    # a resumed send shows the veille items of its first part: pin the window to that start
    first = setup.store.sends.campaign(campaign.id)
    veille_now = _parse_time(first.created_at) if first is not None else None
    compiled = setup.compile_campaign(campaign, veille_now)
    job = _campaign_job(setup, campaign, compiled, recipients, expression, options.test_address)
    from_ = campaign.from_ or setup.settings.sender.from_
    refuse_example_sender(setup.settings.transport, setup.root, from_, options)
    notices = standing_notices(setup, warn)
    if (late := event_timing_warning(campaign.event)) is not None:
        notices.append(late)
        if warn is not None:
            warn(late)
    languages = None if options.test_address else language_counts(job)
    if languages is not None and (fallback := languages.fallback_warning()):
        notices.append(fallback)
    try:
        report = job_runner(setup, job, from_=campaign.from_).run(
            options,
            progress=progress,
            confirm=_with_languages(languages, _warning_first(notices, confirm)),
        )
    finally:
        # whatever stopped the send, who got the invitation is recorded (a re-run adds the rest)
        if campaign.event is not None and not options.test_address:
            record_invitations(setup.store.events, campaign.event.name, campaign.id)
    _add_warnings(report.preflight, notices)
    if languages is not None:
        report.preflight.languages = dict(languages.variants)
    return report


def language_counts(job: SendJob) -> LanguageCounts | None:
    """Count who gets which variant of a campaign in several languages (None: one language).

    Counted over the recipients the job would mail: a suppressed or erased one gets nothing.
    """
    from ..render.variants import CompiledVariants

    compiled = job.compiled
    if not isinstance(compiled, CompiledVariants):
        return None
    return compiled.count(
        r for r in job.recipients if job.suppression(str(r.email), job.list_name) is None
    )


def _with_languages(
    languages: LanguageCounts | None, confirm: Callable[[PreflightReport], bool] | None
) -> Callable[[PreflightReport], bool] | None:
    """Return ``confirm`` that first puts the per-language counts in the report it shows."""
    if languages is None or confirm is None:
        return confirm

    def confirm_with_languages(report: PreflightReport) -> bool:
        report.languages = dict(languages.variants)
        return confirm(report)

    return confirm_with_languages


def send_to_contacts(
    setup: SendSetup,
    campaign: Campaign,
    contacts: list[Contact],
    *,
    audience: str,
    options: SendOptions,
    progress: Progress | None = None,
) -> SendReport:
    """Send ``campaign`` (its ``id`` is the send-log id) to these contacts, as ``commskit run``
    does for a sequence step: the audience's suppression and legal-basis rule apply, and
    contacts the send log already holds for that id are never sent twice."""
    compiled = setup.compile_campaign(campaign, None)
    job = _campaign_job(setup, campaign, compiled, contacts, audience, None)
    from_ = campaign.from_ or setup.settings.sender.from_
    refuse_example_sender(setup.settings.transport, setup.root, from_, options)
    return job_runner(setup, job, from_=campaign.from_).run(options, progress=progress)


def standing_notices(setup: SendSetup, warn: Callable[[str], None] | None) -> list[str]:
    """Return (and give ``warn``, one by one) the warnings about the sender's standing: the
    last doctor run and the last campaigns' bounce and complaint rates."""
    notices = [
        notice
        for notice in (
            doctor_warning(setup.root / Path(setup.settings.paths.state).expanduser()),
            rates_warning(setup.settings.sending, setup.store.sends),
        )
        if notice
    ]
    if warn is not None:
        for notice in notices:
            warn(notice)
    return notices


def event_timing_warning(event: EventSpec | None, now: datetime | None = None) -> str | None:
    """Return the warning for an invitation to an event that has started or whose registrations
    have closed (its ``registration_deadline``, else its start), or None.

    ``now`` defaults to commskit's clock (``COMMSKIT_NOW`` when pinned). A warning, not a
    refusal: a replay or a "sorry we missed you" mail may name a past event on purpose.
    """
    if event is None:
        return None
    from ..clock import now as clock_now

    moment = now or clock_now()
    when = event.start.strftime("%Y-%m-%d %H:%M")
    if moment >= event.start:
        return (
            f"event {event.name!r} started on {when} ({event.timezone}): this mail invites "
            f"to a past event; change start in events/{event.name}.toml if it moved"
        )
    closes = event.registration_deadline
    if closes is not None and moment >= closes:
        return (
            f"event {event.name!r}: registrations closed on "
            f"{closes.strftime('%Y-%m-%d %H:%M')} ({event.timezone}), before its start on "
            f"{when}: invitees cannot register; move registration_deadline in "
            f"events/{event.name}.toml"
        )
    return None


def rates_warning(sending: SendingSettings, repo: SendRepo) -> str | None:
    """Return the warning about the last campaigns' complaint and hard-bounce rates, or None.

    Judged: the last ``[sending] rates_campaigns`` campaigns (digests too) that sent at least
    ``rates_min_sent`` messages, each against ``max_complaint_rate`` and
    ``max_hard_bounce_rate`` (docs/sending.md "Rates" says why).
    """
    recent = repo.recent_rates(campaigns=sending.rates_campaigns, min_sent=sending.rates_min_sent)
    return rate_warning(
        recent,
        max_complaint_rate=sending.max_complaint_rate,
        max_hard_bounce_rate=sending.max_hard_bounce_rate,
    )


def _add_warnings(report: PreflightReport, notices: list[str]) -> None:
    for notice in notices:
        if notice not in report.warnings:
            report.warnings.append(notice)


def _warning_first(
    notices: list[str], confirm: Callable[[PreflightReport], bool] | None
) -> Callable[[PreflightReport], bool] | None:
    """Return ``confirm`` that first adds ``notices`` to the pre-flight warnings it shows."""
    if not notices or confirm is None:
        return confirm

    def confirm_with_notice(report: PreflightReport) -> bool:
        _add_warnings(report, notices)
        return confirm(report)

    return confirm_with_notice


def check_campaign(
    setup: SendSetup,
    campaign: Campaign | str | os.PathLike[str],
    *,
    to: str | None = None,
    audience: str | None = None,
) -> CampaignCheck:
    """Check a campaign as ``send`` would: against its real audience, or one contact (``to``).

    Every recipient ``send`` would mail is rendered strictly, and the content checks run for
    the first of them (a sample contact only when there is none), so the partners' own columns
    (``contact.attributes``), the unsubscribe URL and per-recipient subject lengths are judged
    exactly as pre-flight judges them. Recipients that would not be mailed for a reason someone
    must fix (invalid data, no or refused legal basis) are listed as warnings.
    """
    from ..compose.sample import contact_for

    campaign = _loaded(setup, campaign)
    compiled = setup.compile_campaign(campaign, None)
    result = CampaignCheck(campaign.id, compiled.fingerprint, [])
    expression = None if to else (audience or campaign.audience)
    recipients = setup.segment(expression, campaign.list_name) if expression else None
    if recipients is None or recipients.count() == 0:
        contact = contact_for(setup.contacts, to, campaign.language) if to else None
        result.issues = [i.to_dict() for i in compiled.check(contact)]
        return result
    job = _campaign_job(setup, campaign, compiled, recipients, expression, None)
    runner = job_runner(setup, job, from_=campaign.from_)
    result.audience = expression
    try:
        report, _ = runner.preflight(SendOptions(dry_run=True), collect=False, strict=False)
    except CommskitError as exc:  # what stops a send at the first recipient it concerns
        result.issues.append({"level": "error", "code": "recipient-render", "message": str(exc)})
        return result
    result.preflight = report
    result.issues = preflight_issues(report)
    languages = language_counts(job)
    if languages is not None:
        report.languages = dict(languages.variants)
        if fallback := languages.fallback_warning():
            report.warnings.append(fallback)
            result.issues.append(
                {"level": "warning", "code": "language-fallback", "message": fallback}
            )
    return result


def send_digest(
    setup: SendSetup,
    digest: Digest,
    *,
    recipients: list[str] | None = None,
    segment: str | None = None,
    dry_run: bool = False,
    test_address: str | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    confirm: Callable[[PreflightReport], bool] | None = None,
    yes: bool = False,
    warn: Callable[[str], None] | None = None,
) -> SendReport:
    """Email ``digest`` to the team ([digest] recipients / segment), at most once per period.

    Its send-log id is the digest name plus the period (see :mod:`commskit.send.digest`). As
    for campaigns, more than one message needs ``yes=True`` or a ``confirm`` callback, and the
    warnings about the sender's standing go to ``warn`` before anything is sent.
    """
    settings = setup.settings.digest
    addresses = list(recipients if recipients is not None else settings.recipients)
    expression = segment if segment is not None else settings.segment
    if not addresses and not expression and not test_address:
        raise PreflightError(
            "the digest has no recipients",
            path=setup.root / "commskit.toml",
            hint='Set [digest] recipients = ["equipe@…"] or [digest] segment in commskit.toml',
        )
    moment = now or digest.end
    campaign_id = f"{digest.name}-{period_key(moment, settings.period)}"
    people = setup.segment(expression, digest.name) if expression else None
    compiled = setup.compile_digest(digest, digest.name)
    job = make_job(
        setup.contacts,
        setup.secret(),
        campaign_id=campaign_id,
        compiled=compiled,
        recipients=DigestRecipients(address_recipients(addresses), people),
        list_name=digest.name,
        subject=compiled.campaign.subject,
        sample=sample_recipient(setup.contacts, test_address, compiled.campaign.language),
    )
    runner = job_runner(setup, job)
    options = SendOptions(dry_run=dry_run, test_address=test_address, yes=yes, allow_changed=True)
    from_ = compiled.campaign.from_ or setup.settings.sender.from_
    refuse_example_sender(setup.settings.transport, setup.root, from_, options)
    notices = standing_notices(setup, warn)
    report = runner.run(options, progress=progress, confirm=_warning_first(notices, confirm))
    _add_warnings(report.preflight, notices)
    return report


# --- helpers ----------------------------------------------------------------------------------


def _loaded(setup: SendSetup, campaign: Campaign | str | os.PathLike[str]) -> Campaign:
    if isinstance(campaign, str | os.PathLike):
        return setup.load_campaign(Path(os.fspath(campaign)))
    return campaign


def _campaign_job(
    setup: SendSetup,
    campaign: Campaign,
    compiled: CompiledCampaign | CompiledVariants,
    recipients: Segment | list[Contact],
    expression: str | None,
    test_address: str | None,
) -> SendJob:
    """Build a campaign's job: the audience's suppression plus the legal-basis rule."""
    job = make_job(
        setup.contacts,
        setup.secret(),
        campaign_id=campaign.id,
        compiled=compiled,
        recipients=recipients,
        list_name=campaign.list_name,
        subject=campaign.subject,
        sample=sample_recipient(setup.contacts, test_address, campaign.language),
    )
    if expression:
        job.suppression = with_legal_basis(
            setup.contacts,
            setup.settings.segments,
            expression,
            campaign.list_name,
            job.suppression,
        )
    return job


def job_runner(setup: SendSetup, job: SendJob, *, from_: str = "") -> CampaignRunner:
    """Build the runner for a job (``commskit.send.jobs.make_job``) with the setup's settings,
    send log and transport; a forked sending process reopens the pieces."""

    def reopen() -> tuple[SendJob, SendRepo]:
        # runs in a forked sending process: a new connection, the same compiled campaign
        fresh = setup.reopen()
        again = make_job(
            fresh.contacts,
            fresh.secret(),
            campaign_id=job.campaign_id,
            compiled=job.compiled,
            recipients=(),
            list_name=job.list_name,
            subject=job.subject,
        )
        return again, fresh.store.sends

    return make_runner(
        job,
        settings=setup.settings,
        repo=setup.store.sends,
        secret=setup.secret(),
        root=setup.root,
        reopen=reopen,
        from_=from_,
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
