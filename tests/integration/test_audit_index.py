"""The audit log's index by patient holds only records about a patient (issue 15, audit
schema step 2): an MX delivery's MAIL and RCPT records have none, and in a full index
they filled a leaf page of their own that every delivery wrote again. Each lookup by
patient states the index's condition (AUDIT_PATIENT_ONLY), or neither engine uses the
index and the lookup reads the whole log."""
import os
import re
import smtplib
import sqlite3
from pathlib import Path

import pytest

from conftest import PATIENT, PRO

# reads the SQLite file itself
pytestmark = pytest.mark.sqlite_only

SRC = Path(os.environ.get("MSS_SOURCE_DIR", Path(__file__).resolve().parents[2]))
LOOKUP = re.compile(r'"([^"]*FROM audit_log WHERE patient = \?1)"(\s*AUDIT_PATIENT_ONLY)?')


def lookups():
    """(file, query start, states the condition) for every lookup by patient in the code."""
    found = []
    for path in sorted(SRC.glob("*/*.c")):
        for q, cond in LOOKUP.findall(path.read_text(errors="replace")):
            found.append((path.name, q, bool(cond)))
    return found


def test_every_lookup_by_patient_states_the_index_condition():
    found = lookups()
    assert len(found) >= 3, found  # audit.c twice, vault_history.c
    assert all(cond for _, _, cond in found), [f for f in found if not f[2]]


def test_index_leaves_out_records_without_a_patient_and_serves_the_lookups(smtpd):
    m = smtpd
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=60) as s:
        s.starttls(context=m.client_context("pro"))
        s.ehlo()
        assert s.docmd("AUTH", "EXTERNAL =")[0] == 235
        s.sendmail(PRO, [PATIENT], b"Subject: index\r\n\r\nBonjour.\r\n")
    con = sqlite3.connect(m.data_dir / "mss.db")
    try:
        none, about = con.execute("SELECT sum(patient = ''), sum(patient <> '') FROM audit_log").fetchone()
        assert none >= 2 and about >= 1, (none, about)  # smtp.mail, smtp.rcpt / smtp.deliver
        assert "WHERE patient <> ''" in con.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'audit_log_patient'").fetchone()[0]
        for q, args in (("SELECT seq FROM audit_log WHERE patient = ?1 AND patient <> ''"
                         " AND seq > ?2 ORDER BY seq", (PATIENT, 0)),
                        ("SELECT 1 FROM audit_log WHERE patient = ?1 AND patient <> '' AND actor = ?2"
                         " AND action = ?3 AND time >= ?4 LIMIT 1", (PATIENT, PRO, "contact.open", 0))):
            p = " ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + q, args))
            assert "INDEX audit_log_patient" in p, (q, p)
        # the history of the patient still finds the delivery
        assert con.execute("SELECT count(*) FROM audit_log WHERE patient = ? AND patient <> ''"
                           " AND action = 'smtp.deliver'", (PATIENT,)).fetchone()[0] == 1
    finally:
        con.close()
