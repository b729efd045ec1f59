"""Address normalisation, field normalisers, and the bench script (smoke run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email

from commskit.audience.contacts import (
    Contact,
    InvalidAddress,
    _normalise_slow,
    email_hash,
    fold,
    normalise_basis,
    normalise_date,
    normalise_email,
    normalise_language,
)

ADDRESSES = [
    "contact@brest.example.org",
    "Jean.Dupont@Example.FR",
    "o'neil+news@sub.domain.example.com",
    "a!#$%&'*+/=?^_`{|}~-b@example.org",
    "x@localhost",
    "x@example",
    "x@-bad.example.org",
    "x@bad-.example.org",
    "x@ex..ample.org",
    "x@" + "a" * 64 + ".example.org",
    "x@example.123",
    "x@[127.0.0.1]",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "x@" + ".".join(["abcdefghij"] * 25) + ".org",
    ".x@example.org",
    "x.@example.org",
    "x..y@example.org",
    "x@example.invalid",
    "x@example.test",
    "x@example.local",
    "x@xn--exmple-qta.fr",
    "x@xn--zz.fr",
    "x@exämple.fr",
    "José@example.org",
    '"quoted"@example.org',
    "x@example.org.",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    try:
        expected: str | None = _normalise_slow(address)
    except InvalidAddress:
        expected = None
    try:
        got: str | None = normalise_email(address)
    except InvalidAddress:
        got = None
    assert got == expected
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        assert got is None
    else:
        assert got is not None
        assert got.rpartition("@")[2] == result.ascii_domain.lower()


def test_display_forms_and_idn() -> None:
    assert normalise_email(" Anne <Anne@Example.ORG> ") == "Anne@example.org"
    assert normalise_email("mailto:anne@example.org") == "anne@example.org"
    assert normalise_email("Jean.Dupont@Exámple.FR") == "Jean.Dupont@xn--exmple-qta.fr"
    with pytest.raises(InvalidAddress, match="empty"):
        normalise_email("  ")


def test_hash_is_keyed_and_case_insensitive() -> None:
    key = b"0123456789abcdef0123"
    assert email_hash(key, "Anne@example.org") == email_hash(key, "anne@example.org")
    assert email_hash(key, "anne@example.org") != email_hash(
        b"another key 012345", "anne@example.org"
    )
    assert "anne" not in email_hash(key, "anne@example.org")


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (normalise_language, "Français", "fr"),
        (normalise_language, "EN", "en"),
        (normalise_basis, "Mission d’intérêt public", "public-mission"),
        (normalise_basis, "Consentement", "consent"),
        (normalise_basis, "opt-out professionnel", "professional"),
        (normalise_date, "05/02/2026", "2026-02-05"),
        (normalise_date, "2026-02-05T10:00:00", "2026-02-05"),
        (fold, "Île-de-France ÉTÉ", "ile-de-france ete"),
    ],
)
def test_normalisers(func, value: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert func(value) == expected


def test_contact_contract_fields() -> None:
    contact = Contact(id=1, email="a@example.org", first_name="Anne", last_name="Le Goff")
    assert contact.full_name == "Anne Le Goff"
    assert Contact(id=2, email="b@example.org", last_name="Seul").full_name == "Seul"
    with pytest.raises(AttributeError):
        contact.email = "other@example.org"  # type: ignore[misc]
    assert set(contact.to_dict()) >= {
        "id",
        "email",
        "first_name",
        "last_name",
        "organization",
        "kind",
        "region",
        "department",
        "language",
        "stage",
        "tags",
        "attributes",
        "basis",
        "basis_source",
        "basis_date",
    }


def test_bench_script_runs_small(python: str, subprocess_env: dict[str, str]) -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "contacts_bench.py"
    proc = subprocess.run(
        [python, str(script), "--rows", "300", "--peer-rows", "50", "--rss-rows", "400"],
        capture_output=True,
        text=True,
        env=subprocess_env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| import 300 new contacts (" in proc.stdout
    assert "| import 400 new contacts (" in proc.stdout  # the --rss-rows file
    assert re.search(r"\| \d+ MB \|", proc.stdout)  # a peak RSS, measured in a child process
    assert "× " in proc.stdout  # a ratio against the peer measured in the same run
    assert "Load average at start" in proc.stdout
