"""Imports stream the file and store it in short batches (issue 17 item 6).

A file is read twice: once to decide its encoding and check its structure (so an unreadable file
stores nothing), then batch by batch, each batch its own write transaction. These tests prove the
behaviours at small sizes; bench/contacts_bench.py proves the scale (a million rows, 5,000,000
rows' peak RSS).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from commskit import Workspace, forking
from commskit.audience import book, importer
from commskit.audience.importer import SeenAddresses, open_contact_file
from commskit.errors import ContactImportError
from commskit.store import Store

from .conftest import WriteExport

BATCH = book.IMPORT_BATCH_ROWS


def _rows(count: int, start: int = 0) -> list[list[str]]:
    return [[f"p{i}@example.org", f"P{i}"] for i in range(start, start + count)]


def _stored(ws: Workspace) -> int:
    return ws.contacts.count()


def test_an_interrupted_import_keeps_whole_batches_and_a_rerun_finishes(
    ws: Workspace, write_export: WriteExport
) -> None:
    total = 2 * BATCH + 1234
    path = write_export("long.csv", [["Courriel", "Prénom"], *_rows(total)])
    calls = 0

    def interrupt_after_the_first_batch(
        n: int = 1, total: int | None = None, description: str | None = None
    ) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first batch is committed: stop as Ctrl-C would
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ws.contacts.import_file(path, progress=interrupt_after_the_first_batch)
    assert _stored(ws) == BATCH  # one batch, whole; nothing of the second
    again = ws.contacts.import_file(path)
    assert (again.imported, again.unchanged, again.skipped_total) == (total - BATCH, BATCH, 0)
    assert _stored(ws) == total


def test_kill_9_mid_import_leaves_whole_batches_and_the_rerun_finishes(
    ws: Workspace, write_export: WriteExport, subprocess_env: dict[str, str], python: str
) -> None:
    total = 12 * BATCH
    path = write_export(
        "big.csv", [["Courriel", "Prénom", "Tags"], *[[*r, "a, b"] for r in _rows(total)]]
    )
    db = ws.state_dir / "state.db"
    ws.close()
    proc = subprocess.Popen(
        [python, "-m", "commskit", "-C", str(ws.root), "contacts", "import", str(path)],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # wait for the first committed batch (bounded by pytest-timeout), then kill
        while proc.poll() is None and _count(db) == 0:
            time.sleep(0.02)
        assert proc.poll() is None, "the import finished before the kill; use more rows"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = _count(db)
    assert 0 < killed_at < total
    assert killed_at % BATCH == 0  # only whole batches
    conn = sqlite3.connect(db)
    tags = conn.execute("SELECT COUNT(*) FROM contact_tags").fetchone()[0]
    conn.close()
    assert tags == 2 * killed_at  # each batch's tag rows with its contacts
    again = Workspace.open(ws.root)
    try:
        report = again.contacts.import_file(path)
        assert (report.imported, report.unchanged) == (total - killed_at, killed_at)
        assert again.contacts.count() == total
    finally:
        again.close()


def _count(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet: nothing stored
        return 0
    finally:
        conn.close()


def test_another_connection_writes_while_a_long_import_runs(
    ws: Workspace, write_export: WriteExport, subprocess_env: dict[str, str], python: str
) -> None:
    """`serve`, `send` or another import wait at most one batch, not the whole import."""
    total = 12 * BATCH
    path = write_export("big.csv", [["Courriel", "Prénom"], *_rows(total)])
    db = ws.state_dir / "state.db"
    ws.close()
    proc = subprocess.Popen(
        [python, "-m", "commskit", "-C", str(ws.root), "contacts", "import", str(path)],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while proc.poll() is None and _count(db) == 0:
            time.sleep(0.02)
        # a write of another process, with the default [store] lock_timeout (30 s); the
        # import's first batch is committed and its next ones are on their way
        other = Store(db, timeout=30.0)
        try:
            with other.transaction():
                other.set_meta("written-during-import", "yes")
        finally:
            other.close()
        during = _count(db)
        running = proc.poll() is None
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert running, "the import finished before the write; use more rows"
    assert 0 < during < total  # the write got the lock between two batches of the import
    assert _count(db) == total


def test_a_thread_writes_between_batches_of_an_import(
    ws: Workspace, write_export: WriteExport
) -> None:
    total = 4 * BATCH
    path = write_export("c.csv", [["Courriel"], *([f"p{i}@example.org"] for i in range(total))])
    db = ws.state_dir / "state.db"
    batches_done: list[int] = []
    wrote_at: list[int] = []
    first_batch = threading.Event()
    writer_done = threading.Event()

    def progress(n: int = 1, total: int | None = None, description: str | None = None) -> None:
        if n:
            batches_done.append(n)
        if len(batches_done) == 1 and n:
            first_batch.set()
            # the import goes on only once the other connection has written: if the import
            # still held the write lock here, the writer would wait out lock_timeout and fail
            assert writer_done.wait(timeout=60)

    def write() -> None:
        assert first_batch.wait(timeout=60)
        other = Store(db, timeout=5.0)
        try:
            with other.transaction():
                other.set_meta("written-during-import", "yes")
            wrote_at.append(len(batches_done))
        finally:
            other.close()
            writer_done.set()

    writer = threading.Thread(target=write)
    writer.start()
    report = ws.contacts.import_file(path, progress=progress)
    writer.join()
    assert report.imported == total
    assert wrote_at == [1]  # after the first batch, before the second
    assert ws.store.get_meta("written-during-import") == "yes"


def test_repeated_addresses_are_found_across_batches(
    ws: Workspace, write_export: WriteExport
) -> None:
    rows = _rows(BATCH * 2 + 10)
    rows.append(["P3@EXAMPLE.ORG", "again"])  # row 2 + len(rows): long after the first batch
    path = write_export("dup.csv", [["Courriel", "Prénom"], *rows])
    report = ws.contacts.import_file(path)
    assert report.imported == len(rows) - 1
    assert [(s.row, s.reason) for s in report.skipped] == [(len(rows) + 1, "duplicate of row 5")]
    assert ws.contacts.get("p3@example.org").first_name == "P3"  # type: ignore[union-attr]


def test_a_file_of_bad_rows_lists_the_first_ones_and_counts_them_all(
    ws: Workspace, write_export: WriteExport, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(book, "REPORTED_ROWS", 40)  # 10,000 in use: a smaller file here
    bad = BATCH + 25
    rows = [["Courriel"], *([f"pas-une-adresse-{i}"] for i in range(bad)), ["ok@example.org"]]
    path = write_export("bad.csv", rows)
    report = ws.contacts.import_file(path)
    assert (report.imported, report.skipped_total) == (1, bad)
    assert len(report.skipped) == book.REPORTED_ROWS
    assert [s.row for s in report.skipped[:2]] == [2, 3]  # the first ones, in row order
    data = json.loads(run_cli("contacts", "import", str(path), "--dry-run", "--json").stdout)
    assert (data["skipped_total"], len(data["skipped"])) == (bad, book.REPORTED_ROWS)
    text = run_cli("contacts", "import", str(path), "--dry-run").output
    assert f"skipped {bad}" in text
    assert f"the first {book.REPORTED_ROWS:,} of {bad:,}" in text


def test_dry_run_streams_and_reports_what_the_import_does(
    ws: Workspace, write_export: WriteExport
) -> None:
    rows = _rows(BATCH + 7)
    rows.insert(BATCH + 3, ["p1@example.org", "twice"])
    path = write_export("c.csv", [["Courriel", "Prénom"], *rows])
    dry = ws.contacts.import_file(path, dry_run=True)
    assert _stored(ws) == 0
    real = ws.contacts.import_file(path)
    assert dry.to_dict() == {**real.to_dict(), "dry_run": True}
    assert real.skipped_total == 1


def test_an_unreadable_line_deep_in_the_file_stores_nothing(ws: Workspace, tmp_path: Path) -> None:
    good = "".join(f"p{i}@example.org;P{i}\r\n" for i in range(BATCH * 2))
    # an opening quote never closed: the rest of the file would be one field
    broken = 'x@example.org;"never closed\r\n' + "y" * 200_000 + "\r\n"
    path = tmp_path / "broken.csv"
    path.write_bytes(("Courriel;Prénom\r\n" + good + broken).encode("utf-8"))
    with pytest.raises(ContactImportError) as info:
        ws.contacts.import_file(path)
    assert info.value.line == BATCH * 2 + 2
    assert "malformed CSV" in info.value.message
    assert _stored(ws) == 0


def test_a_bad_byte_after_a_utf8_mark_names_its_line(ws: Workspace, tmp_path: Path) -> None:
    lines = [f"p{i}@example.org;Éloïse\r\n".encode() for i in range(40_000)]
    lines[39_000] = b"bad@example.org;\xe9\r\n"  # Windows-1252 in a UTF-8 file
    path = tmp_path / "mixed.csv"
    path.write_bytes(codecs.BOM_UTF8 + "Courriel;Prénom\r\n".encode() + b"".join(lines))
    assert path.stat().st_size > importer.CHUNK_BYTES  # the bad byte is in a later chunk
    with pytest.raises(ContactImportError) as info:
        ws.contacts.import_file(path)
    assert info.value.line == 39_002
    assert "is not UTF-8" in info.value.message
    assert _stored(ws) == 0


@pytest.mark.parametrize(
    ("late", "encoding", "expected"),
    [
        ("Hélène".encode("cp1252"), "windows-1252", "Hélène"),
        ("Hélène".encode(), "utf-8", "Hélène"),
        (b"H\x81l\xe8ne", "latin-1", "H\x81lène"),  # a byte cp1252 leaves undefined
    ],
)
def test_the_encoding_is_decided_on_every_byte_not_the_first_ones(
    ws: Workspace, tmp_path: Path, late: bytes, encoding: str, expected: str
) -> None:
    """A Windows export whose first accent comes after the first megabyte is still cp1252."""
    head = "".join(f"p{i}@example.org;Anne\r\n" for i in range(80_000)).encode("ascii")
    assert len(head) > importer.HEAD_BYTES + importer.CHUNK_BYTES
    path = tmp_path / "late.csv"
    path.write_bytes(b"Courriel;Prenom\r\n" + head + b"late@example.org;" + late + b"\r\n")
    report = ws.contacts.import_file(path, dry_run=True)
    assert (report.encoding, report.imported) == (encoding, 80_001)
    opened = open_contact_file(path, b"k" * 32)
    last = [row for batch in opened.batches() for row in batch.rows][-1]
    # the name, cleaned of control characters as every import does
    assert last.values["first_name"] == expected.replace("\x81", "")


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "windows-1252"])
def test_chunks_split_anywhere_give_the_lines_a_whole_read_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, encoding: str
) -> None:
    text = 'Courriel;Note\r\na@example.org;"deux\r\nlignes"\rb@example.org;Hélène\nc@x.org;€\r\n'
    data = text.encode(importer._CODECS[encoding])  # utf-8-sig and utf-16 write their mark
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    monkeypatch.setattr(importer, "CHUNK_BYTES", chunk)
    lines = list(importer._text_lines(path, encoding))
    assert lines == io.StringIO(text, newline="").readlines()


def test_json_lines_stream_and_a_late_key_is_a_column(ws: Workspace, tmp_path: Path) -> None:
    items = [{"email": f"p{i}@example.org"} for i in range(BATCH + 3)]
    items[-1]["Région"] = "Bretagne"  # a key only the last line has
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n")
    report = ws.contacts.import_file(path)
    assert (report.format, report.imported, report.total_rows) == ("jsonl", BATCH + 3, BATCH + 3)
    assert report.columns["Région"] == "region"
    assert ws.contacts.get(f"p{BATCH + 2}@example.org").region == "Bretagne"  # type: ignore[union-attr]


def test_seen_addresses_keep_the_first_row_of_each() -> None:
    seen = SeenAddresses()
    keys = [f"{i:064x}"[::-1] for i in range(5000)] + ["ab" * 32]
    for row, key in enumerate(keys, start=2):
        assert seen.get(key) is None
        seen.add(key, row)
    assert all(seen.get(key) == row for row, key in enumerate(keys, start=2))
    assert len(seen) == len(keys)
    # 48 bits stored per key: one that matches another's bytes at an unaligned offset is unseen
    assert seen.get("abab" + "ba" * 30) is None


def _contents(ws: Workspace) -> list[dict[str, object]]:
    ignored = ("created_at", "updated_at", "id")
    return [{k: v for k, v in c.to_dict().items() if k not in ignored} for c in ws.contacts.list()]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="reading in a child needs os.fork")
def test_a_file_read_in_a_forked_child_imports_as_a_file_read_here(
    ws: Workspace,
    write_export: WriteExport,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    python: str,
) -> None:
    # more than one batch: read and validated in a forked child while the store writes, unless
    # another thread runs (then here): both must give the same report and the same contacts.
    # The forked import runs in a fresh process: one with no thread left by an earlier test
    rows = [
        [f"p{i}@example.org", f"Élodie {i}", "aom" if i % 3 else "epci", "pilote, Bretagne"]
        for i in range(3 * BATCH + 17)
    ]
    rows[2 * BATCH + 5][0] = "pas-une-adresse"
    rows.append(["P4@Example.org", "again", "", ""])  # a duplicate, in the last batch
    path = write_export("big.csv", [["Courriel", "Prénom", "Type", "Tags"], *rows])
    ws.close()
    script = (
        "import json, sys\n"
        "from commskit import Workspace, forking\n"
        "assert forking.can_fork(), 'a thread runs: the import would read in-process'\n"
        "ws = Workspace.open(sys.argv[1])\n"
        "print(json.dumps(ws.contacts.import_file(sys.argv[2]).to_dict()))\n"
        "ws.close()\n"
    )
    proc = subprocess.run(
        [python, "-c", script, str(ws.root), str(path)],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    forked = json.loads(proc.stdout)
    ws = Workspace.open(ws.root)
    here_ws = Workspace.init(tmp_path / "here")
    stop = threading.Event()
    other_thread = threading.Thread(target=stop.wait)
    other_thread.start()
    try:
        assert not forking.can_fork()
        here = here_ws.contacts.import_file(path)
    finally:
        stop.set()
        other_thread.join()
    try:
        assert forked == here.to_dict()
        assert (here.imported, here.total_rows, here.skipped_total) == (len(rows) - 2, len(rows), 2)
        assert [s.row for s in here.skipped] == [2 * BATCH + 7, len(rows) + 1]
        assert _contents(ws) == _contents(here_ws)
    finally:
        here_ws.close()
        ws.close()
