"""Relay out to the trust space, acceptance side (issue 13, DESIGN.md "Relay out to the
trust space"): submission takes the remote recipients the policy allows and says 250
only once the message is in the outbound queue (an encrypted file, fsynced, and rows
committed with their audit records); a domain absent from the trust list is refused at
RCPT; mssctl queue lists, shows, flushes and deletes. Real clients: smtplib over
STARTTLS with the professional's certificate or a patient's password."""
import time

from conftest import PATIENT, PRO
from test_policy_smtp import (REMOTE_PRO, as_operator, as_password, as_professional, message, send,
                              space)  # noqa: F401 (fixture)

REMOTE_OTHER = "dr.other@other-operator.test"


def queued(m):
    return m.sql("SELECT q.qid, q.mail_from, r.rcpt, r.domain FROM queue_messages q "
                 "JOIN queue_rcpts r ON r.qid = q.qid ORDER BY r.rcpt")


def write_sql(m, query, *params):
    """A change made behind the daemons' back (conftest's sql() reads only on SQLite)."""
    if m.settings.get("store"):
        return m.sql(query, *params)
    import sqlite3
    con = sqlite3.connect(str(m.data_dir / "mss.db"), timeout=30)
    try:
        with con:
            con.execute(query, params)
    finally:
        con.close()


def queue_files(m):
    d = m.data_dir / "blobs" / "queue"
    return sorted(p for p in d.iterdir()) if d.exists() else []


def test_professional_to_trust_space_is_queued_encrypted(space):
    body_marker = "Compte rendu confidentiel 4242"
    with as_professional(space) as s:
        msg = message(PRO, REMOTE_PRO, subject="CR")
        msg.set_content(body_marker + "\n")
        assert s.send_message(msg, from_addr=PRO, to_addrs=[REMOTE_PRO, REMOTE_OTHER]) == {}
    rows = queued(space)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (PRO, REMOTE_OTHER, "other-operator.test"), (PRO, REMOTE_PRO, "other-operator.test")]
    qid = rows[0][0]
    assert rows[1][0] == qid
    files = queue_files(space)
    assert [f.name for f in files] == [qid]
    raw = files[0].read_bytes()
    assert body_marker.encode() not in raw and b"Subject" not in raw  # encrypted at rest
    # the acceptance is audited per recipient, in the queue's transaction
    audit = space.sql("SELECT target, result FROM audit_log WHERE action = 'smtp.queue' ORDER BY target")
    assert audit == [(REMOTE_OTHER, "ok"), (REMOTE_PRO, "ok")]
    # no local copy was made for the remote recipients
    assert space.sql("SELECT count(*) FROM queue_messages")[0][0] == 1


def test_mixed_local_and_remote_recipients(space):
    with as_professional(space) as s:
        assert s.send_message(message(PRO, PATIENT), from_addr=PRO, to_addrs=[PATIENT, REMOTE_PRO]) == {}
    assert [r[2] for r in queued(space)] == [REMOTE_PRO]
    n = space.sql("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
                  "JOIN store_users u ON u.id = b.user_id WHERE u.address = ? AND b.name = 'INBOX'", PATIENT)
    assert n[0][0] == 1


def test_domain_absent_from_trust_list_refused_at_rcpt(space):
    with as_professional(space) as s:
        code, text = send(s, PRO, "someone@not-in-the-list.test")
    assert code == 550 and text.startswith("5.7.1") and "trust list" in text, text
    assert queued(space) == []


def test_patient_only_to_an_authorised_contact(space):
    with as_password(space, PATIENT) as s:
        code, text = send(s, PATIENT, REMOTE_PRO)
    assert (code, text[:5]) == (550, "5.7.1"), text
    assert queued(space) == []
    # the remote professional writes first (operator with its listed DN): contact open
    with as_operator(space) as s:
        assert send(s, REMOTE_PRO, PATIENT) == (250, "")
    with as_password(space, PATIENT) as s:
        assert send(s, PATIENT, REMOTE_PRO) == (250, "")
        # another professional of that operator is still no contact
        code, text = send(s, PATIENT, REMOTE_OTHER)
        assert (code, text[:5]) == (550, "5.7.1"), text
    assert [r[2] for r in queued(space)] == [REMOTE_PRO]
    rows = space.sql("SELECT patient FROM audit_log WHERE action = 'smtp.queue'")
    assert rows == [(PATIENT,)]  # in the patient's history


def test_mx_listener_never_relays(space):
    with as_operator(space) as s:
        code, text = send(s, REMOTE_PRO, "dr.third@other-operator.test")
    assert (code, text[:5]) == (550, "5.7.1")
    assert queued(space) == []


def test_mssctl_queue_list_show_flush_delete(space):
    with as_professional(space) as s:
        assert s.send_message(message(PRO, REMOTE_PRO), from_addr=PRO, to_addrs=[REMOTE_PRO]) == {}
    qid = queued(space)[0][0]
    out = space.ctl("queue", "list").stdout
    assert qid in out and f"<{PRO}>" in out and "1 recipient waiting" in out, out
    out = space.ctl("queue", "show", qid).stdout
    # the queue process may have tried already (no route, no DNS here: deferred)
    assert f"to: <{REMOTE_PRO}> attempts " in out and f"from: <{PRO}>" in out, out
    assert "Bonjour" not in out  # envelope only
    # flush makes a deferred recipient due now
    later = int(time.time()) + 3600
    write_sql(space, "UPDATE queue_rcpts SET next_attempt = ?", later)
    assert "0 due" in space.ctl("queue", "list").stdout
    assert "1 recipient due now" in space.ctl("queue", "flush", qid).stdout
    # due now, or tried again at once and deferred by queue_retry: either way, sooner
    # (while a worker holds the claim, its lease puts the next attempt an hour away)
    end = time.time() + 20
    while space.sql("SELECT next_attempt FROM queue_rcpts")[0][0] >= later and time.time() < end:
        time.sleep(0.2)
    assert space.sql("SELECT next_attempt FROM queue_rcpts")[0][0] < later
    # unknown ids and bad usage
    r = space.ctl("queue", "show", "NOSUCH", check=False)
    assert r.returncode == 1 and "no message NOSUCH" in r.stderr
    r = space.ctl("queue", "delete", "../etc", check=False)
    assert r.returncode == 1
    assert space.ctl("queue", "frob", check=False).returncode == 2
    # delete removes rows and the encrypted file, audited
    assert f"{qid} deleted" in space.ctl("queue", "delete", qid).stdout
    assert queued(space) == [] and queue_files(space) == []
    assert space.sql("SELECT target FROM audit_log WHERE action = 'queue.delete'") == [(qid,)]
    assert "0 recipients waiting" in space.ctl("queue", "list").stdout


def test_ko_report_to_a_remote_sender_leaves_through_the_queue(space):
    """An integration error report (KO) for a sender at another operator goes to the
    outbound queue with the null sender, instead of being dropped as before."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import xdm  # tests/xdm.py
    archive = xdm.build_xdm(ins="279035121518989")  # PATIENT2's INS, sent to PATIENT
    msg = message(REMOTE_PRO, PATIENT, subject="XDM/1.0/DDM+CR de biologie DEMO Patient",
                  headers={"X-MSS-INS": "O"})
    msg.add_attachment(archive, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    with as_operator(space) as s:
        assert s.send_message(msg, from_addr=REMOTE_PRO, to_addrs=[PATIENT]) == {}
    rows = space.sql("SELECT q.mail_from, q.account, r.rcpt FROM queue_messages q "
                     "JOIN queue_rcpts r ON r.qid = q.qid")
    assert rows == [("", "", REMOTE_PRO)], rows
    audit = space.sql("SELECT target, result FROM audit_log WHERE action = 'vault.ko'")
    assert audit == [(REMOTE_PRO, "ok: queued for the trust space")], audit
