"""`commskit dkim keygen`: write a DKIM key, turn signing on, give the DNS record to publish."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

import tomli_w

from ..config import DkimSettings
from ..errors import DkimError
from ..filemodes import private_dir
from ..send.dkim import Algorithm, dns_record, generate_key

# a DNS label or several (RFC 6376 §3.1 allows dotted selectors), each at most 63 characters
_SELECTOR = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
_SECTION = re.compile(r"^\s*\[\[?([^\[\]]+)\]\]?\s*(#.*)?$")


@dataclass(frozen=True)
class KeygenResult:
    """What `dkim keygen` did: the key file, the settings changed, the record to publish."""

    key_path: Path
    config_path: Path
    #: ``(key, old value or None, new value)`` for each [dkim] setting written
    changed: list[tuple[str, str | None, str]] = field(default_factory=list)
    dns_name: str = ""
    dns_value: str = ""


def keygen(
    *,
    root: Path,
    state_dir: Path,
    config_path: Path,
    dkim: DkimSettings,
    sender_from: str,
    selector: str,
    algorithm: Algorithm,
) -> KeygenResult:
    """Write a new key for ``selector`` (0600, in the state folder), set [dkim] to use it.

    Raises DkimError for a selector that is not a DNS name, a key file that already exists (keys
    are never overwritten: rotate with a new selector), or no domain to sign for.
    """
    selector = selector.strip()
    if not _SELECTOR.match(selector):
        raise DkimError(
            f"selector {selector!r} is not a DNS name",
            hint="Use letters, digits and hyphens, e.g. --selector 2026a",
        )
    domain = (dkim.domain or parseaddr(sender_from)[1].rpartition("@")[2]).strip().lower()
    if not domain:
        raise DkimError(
            "no domain to sign for",
            path=config_path,
            hint='Set [sender] from = "Team <news@your-domain.fr>" (or [dkim] domain) first',
        )
    private = generate_key(algorithm)
    key_path = state_dir / f"dkim-{selector}.{'pem' if algorithm == 'rsa' else 'key'}"
    _write_new_private(key_path, private)
    try:
        shown = key_path.relative_to(root)
    except ValueError:
        shown = key_path
    values = {f"{algorithm}_selector": selector, f"{algorithm}_key": str(shown)}
    old = {k: getattr(dkim, k) or None for k in values}
    set_dkim_settings(config_path, values)
    return KeygenResult(
        key_path=key_path,
        config_path=config_path,
        changed=[(k, old[k], v) for k, v in values.items()],
        dns_name=f"{selector}._domainkey.{domain}",
        dns_value=dns_record(algorithm, private),
    )


def _write_new_private(path: Path, data: bytes) -> None:
    try:
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise DkimError(
            "a key file for this selector already exists; it is never overwritten",
            path=path,
            hint="Choose a new selector (key rotation: publish the new record, then switch)",
        ) from exc
    except OSError as exc:
        raise DkimError(f"cannot write the key: {os.strerror(exc.errno or 0)}", path=path) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def set_dkim_settings(config_path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in the ``[dkim]`` table of commskit.toml, keeping every other line as is."""
    try:
        lines = config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError as exc:
        raise DkimError(f"cannot read it: {os.strerror(exc.errno or 0)}", path=config_path) from exc
    start = next((i for i, line in enumerate(lines) if _section_of(line) == "dkim"), None)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += ["\n", "[dkim]\n"]
        start = len(lines) - 1
    end = next(
        (i for i in range(start + 1, len(lines)) if _section_of(lines[i]) is not None), len(lines)
    )
    todo = dict(values)
    for i in range(start + 1, end):
        key = lines[i].split("=", 1)[0].strip()
        if "=" in lines[i] and key in todo:
            lines[i] = tomli_w.dumps({key: todo.pop(key)})
    insert_at = end
    while insert_at > start + 1 and not lines[insert_at - 1].strip():
        insert_at -= 1  # keep the blank line before the next table
    lines[insert_at:insert_at] = [tomli_w.dumps({k: v}) for k, v in todo.items()]
    try:
        config_path.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise DkimError(
            f"cannot write it: {os.strerror(exc.errno or 0)}", path=config_path
        ) from exc


def _section_of(line: str) -> str | None:
    match = _SECTION.match(line)
    return match.group(1).strip() if match else None
