# SPDX-License-Identifier: MIT
"""Start-up checks of the real daemon on databases it must refuse, and its database tools:
- a foreign database (another program's SQLite file, or not SQLite at all), one written by a
  newer evstream, a corrupt one (schema page; with CONFIG_EVS_STORE_QUICK_CHECK also a data
  page) and a read-only one each stop evstreamd with its own exit code and a message naming
  the file, the problem and the remedy; the file is left byte for byte as it was;
- --recover moves a corrupt database aside (kept as it was) and salvages it into a new one
  that the daemon serves;
- --backup FILE copies a database while a daemon writes to it; never overwrites FILE."""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, command_for, config, run_tests  # noqa: E402

BIN = binary_from_argv()
TIMEOUT = 60 if os.environ.get("EVS_TEST_SLOW") else 20


def run(*args):
    p = subprocess.run(command_for(BIN) + list(args), capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def start_on(db):
    return run("--db", db, "--port", "0", "--no-demo")


def make_db(tmp, events=300):
    """A database of the daemon's own with @p events events, closed cleanly."""
    db = os.path.join(tmp, "evs.db")
    d = Daemon(BIN, db=db)
    try:
        p = d.create_project()
        for i in range(0, events, 50):
            st, _, body = d.post_event(p["ingest_key"],
                                       [{"message": f"m{i + k}", "extra": {"pad": "x" * 200}}
                                        for k in range(min(50, config("EVS_INGEST_BATCH_MAX")))])
            assert st == 202, (st, body)
    finally:
        assert d.stop() == 0
        d.proc = None
    return db, p


def refused(db, code, words):
    before = digest(db)
    rc, out = start_on(db)
    assert rc == code, (rc, out)
    assert db in out, out
    for w in words:
        assert w in out, (w, out)
    assert digest(db) == before, "the refused database was changed"
    assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0


def test_foreign_databases_are_refused_unchanged():
    tmp = tempfile.mkdtemp(prefix="evs-start-")
    try:
        db = os.path.join(tmp, "other.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
        con.commit()
        con.close()
        refused(db, 5, ["not an evstream database", "--db"])
        junk = os.path.join(tmp, "junk.db")
        with open(junk, "wb") as f:
            f.write(os.urandom(8192))
        refused(junk, 5, ["not an evstream database"])
    finally:
        shutil.rmtree(tmp)


def test_newer_schema_is_refused_unchanged():
    tmp = tempfile.mkdtemp(prefix="evs-start-")
    try:
        db, _ = make_db(tmp, events=50)
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version=99")
        con.commit()
        con.close()
        refused(db, 6, ["newer evstream", "backup"])
    finally:
        shutil.rmtree(tmp)


def corrupt_page(db, page):
    with open(db, "r+b") as f:
        f.seek((page - 1) * 4096 + (100 if page == 1 else 0))
        f.write(b"\xff" * 512)


def test_corrupt_database_is_refused_then_recovered():
    tmp = tempfile.mkdtemp(prefix="evs-start-")
    try:
        db, p = make_db(tmp)
        con = sqlite3.connect(db)
        leaves = [r[0] for r in con.execute(
            "SELECT pageno FROM dbstat WHERE name='events' AND pagetype='leaf' ORDER BY pageno")]
        con.close()
        assert len(leaves) >= 5, leaves
        schema_bad = os.path.join(tmp, "schema.db")
        shutil.copy(db, schema_bad)
        corrupt_page(schema_bad, 1)  # the schema table: every open fails
        refused(schema_bad, 3, ["corrupt", "--recover"])

        corrupt_page(db, leaves[len(leaves) // 2])  # a data page: at start only quick_check sees it
        if config("EVS_STORE_QUICK_CHECK"):
            refused(db, 3, ["corrupt", "quick_check", "--recover"])
        bad = digest(db)

        rc, out = run("--db", db, "--recover")
        assert rc == 0, (rc, out)
        aside = [f for f in os.listdir(tmp) if f.startswith("evs.db.corrupt-")
                 and not f.endswith(("-wal", "-shm"))]
        assert len(aside) == 1, (os.listdir(tmp), out)
        assert digest(os.path.join(tmp, aside[0])) == bad, "the corrupt file was changed"
        assert "salvaged 1 projects, 3 keys" in out and "damaged" in out, out
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA user_version").fetchone()[0] == 2
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.close()
        assert 0 < n < 300, n  # all but the rows of the damaged page, from both ends
        # the daemon serves the salvaged database, with the project and its keys
        d = Daemon(BIN, db=db)
        try:
            got = d.all_events(p["id"], p["dashboard_token"])
            assert len(got) == n, (len(got), n)
            st, _, body = d.post_event(p["ingest_key"], {"message": "after recover"})
            assert st == 202, (st, body)
        finally:
            d.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_read_only_database_is_refused_unchanged():
    tmp = tempfile.mkdtemp(prefix="evs-start-")
    immutable = False
    try:
        db, _ = make_db(tmp, events=50)
        if os.geteuid() != 0:
            os.chmod(db, 0o444)
        else:
            # root ignores permission bits; an immutable file is read-only even for root
            immutable = subprocess.run(["chattr", "+i", db], capture_output=True).returncode == 0
            if not immutable:
                print("SKIP read-only case: running as root on a filesystem without chattr +i")
                return
        refused(db, 4, ["cannot be written", "writable"])
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", db], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def test_backup_while_running():
    tmp = tempfile.mkdtemp(prefix="evs-start-")
    try:
        d = Daemon(BIN, db=os.path.join(tmp, "live.db"))
        try:
            p = d.create_project()
            for i in range(20):
                st, _, _ = d.post_event(p["ingest_key"], {"message": f"b{i}"})
                assert st == 202
            out_file = os.path.join(tmp, "copy.db")
            rc, out = run("--db", d.db, "--backup", out_file)
            assert rc == 0, (rc, out)
            st, _, _ = d.post_event(p["ingest_key"], {"message": "after backup"})
            assert st == 202  # the daemon went on writing
            con = sqlite3.connect(out_file)
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            n = con.execute("SELECT count(*) FROM events").fetchone()[0]
            con.close()
            assert n == 20, n
            before = digest(out_file)
            rc, out = run("--db", d.db, "--backup", out_file)
            assert rc == 1 and "exists" in out, (rc, out)
            assert digest(out_file) == before
        finally:
            d.close()
        # the copy is a database the daemon opens
        d = Daemon(BIN, db=out_file)
        d.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests([test_foreign_databases_are_refused_unchanged, test_newer_schema_is_refused_unchanged,
               test_corrupt_database_is_refused_then_recovered,
               test_read_only_database_is_refused_unchanged, test_backup_while_running])
