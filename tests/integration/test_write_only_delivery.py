"""Write-only delivery (issue 12, store/store_msgkey.c): a message's key is sealed to
the recipient's public key, so the process that delivers holds no account's secret.
An MX session, mid-conversation after its delivery, is searched (/proc/PID/mem, as
test_privsep does for the TLS key): neither the recipient's account key nor the
secret key derived from it is in the memory of the daemon's master or of any of its
session processes; the keys searched for are shown to be the right ones by opening
the delivered message with them. Nor is the master key: the session process opens
the store without it (the pre-login split of issue 12's step 4)."""
from email.message import EmailMessage

from conftest import PATIENT, PRO
from test_policy_smtp import REMOTE_PRO, as_operator, space  # noqa: F401  (fixture)
from test_privsep import children, comm
from test_smtp_mx import deliver, mx  # noqa: F401  (fixture)
from test_smtp_protocol import connect
from test_tls_agent import memory_holds
from test_imap_vault import session
from test_vault_reader_keys import BrokenKey, grant
from test_webd_vaccinations import books, immunization, immunizations, vaccination_cda

import atrest_helpers


def test_mx_session_holds_no_account_or_master_key(mx):  # noqa: F811
    c = connect(mx, "smtp", cert="operator")
    assert c.cmd("EHLO mx.other-operator.test")[0] == 250
    assert deliver(c, "dr.x@other-operator.test", PRO)[0] == 250
    (user_id,) = mx.sql("SELECT id FROM store_users WHERE address = ?", PRO)[0]
    account = atrest_helpers.account_key(mx, user_id)
    secret = atrest_helpers.keypair(account)[1]
    needles = [account, secret, (mx.data_dir / "keys" / "master.key").read_bytes()]
    master = mx.procs["smtpd"].pid
    # the agent holds the TLS key, the account key agent the master key (and nothing
    # else: no account key was asked of it), the queue runner the outbound queue's key
    # (a subkey of the master key: doc/architecture.md, "Who can decrypt"); the sessions
    # nothing
    agents = [p for p in children(master) if comm(p) == "mss-keyagent"]
    assert len(agents) == 1 and memory_holds(agents[0], needles) == {2}
    sessions = [p for p in children(master)
                if comm(p) not in ("mss-tls-agent", "mss-queue", "mss-keyagent")]
    assert sessions, children(master)
    for pid in [master, *sessions]:
        assert memory_holds(pid, needles) == set(), (pid, comm(pid))
    c.cmd("QUIT")
    # the keys searched for open what was delivered: the search looked for the right bytes
    (name, sealed, data), = mx.sql("SELECT b.name, b.sealed_key, b.data FROM blobs b JOIN store_users u"
                                   " ON u.id = b.user_id WHERE u.address = ?", PRO)
    assert sealed is not None
    key = atrest_helpers.message_key(account, sealed)
    plain = atrest_helpers.blob_open(atrest_helpers.blob_bytes(mx, name, data), key)
    assert b"Hello." in plain


def vaccination_mail(sender, cda):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = PATIENT
    msg["Subject"] = "Vaccinations"
    msg.set_content("Bonjour, voici vos vaccinations.\n")
    msg.add_attachment(cda, maintype="text", subtype="xml", filename="vaccinations.xml")
    return msg


def test_mx_filing_of_a_vaccination_holds_no_patient_key(space):  # noqa: F811
    """Filing a vaccination document updates the patient's book without the patient's
    key (vault_vacc.h): the MX session records the document's entries sealed to the
    patient (and grantees) and marks the book stale; the patient's own IMAP session
    rebuilds it. Checked twice: with the patient's wrapped key unusable the document is
    filed and nothing fails for want of the key; with it intact, the MX session's
    memory holds neither the account key nor its secret key after the filing."""
    m = space
    m.start("imapd")
    grant(m)
    with as_operator(m) as s:  # a book exists: the next filings would have to read it
        s.send_message(vaccination_mail(REMOTE_PRO, vaccination_cda(
            [immunization("Repevax", "20250115", dose="2", performer="MARTIN")], doc_id="mx-1")))
    (book,) = books(m)
    assert [i["vaccineCode"]["text"] for i in immunizations(book)] == ["Repevax"]
    (user_id,) = m.sql("SELECT id FROM store_users WHERE address = ?", PATIENT)[0]
    account = atrest_helpers.account_key(m, user_id)
    secret = atrest_helpers.keypair(account)[1]
    with BrokenKey(m):
        with as_operator(m) as s:
            s.send_message(vaccination_mail(REMOTE_PRO, vaccination_cda(
                [immunization("ROR", "20261101", dose="1")], doc_id="mx-2")))
    assert m.sql("SELECT count(*) FROM vault_document WHERE class = 'Vaccinations'") == [(2,)]
    log = m.log("smtpd")
    assert "vault.vaccination" not in log and "unwrap" not in log, log[-3000:]
    s = as_operator(m)
    try:
        s.send_message(vaccination_mail(REMOTE_PRO, vaccination_cda(
            [immunization("Gardasil 9", "20240610", display_only=True)], doc_id="mx-3")))
        master = m.procs["smtpd"].pid
        # nor does mss-smtpd's account key agent: no process of mss-smtpd asked for it
        sessions = [p for p in children(master) if comm(p) not in ("mss-tls-agent", "mss-queue")]
        assert "mss-keyagent" in map(comm, sessions) and len(sessions) > 1, children(master)
        for pid in [master, *sessions]:
            assert memory_holds(pid, [account, secret]) == set(), (pid, comm(pid))
    finally:
        s.quit()
    assert m.sql("SELECT count(*) FROM vault_document WHERE class = 'Vaccinations'") == [(3,)]
    # meanwhile a professional the patient granted reads, with its own key, the last book
    # and the entries waiting for it (sealed to it at filing, as any vault message)
    with BrokenKey(m):
        pro = session(m, PRO, cert="pro")
        try:
            _, t = pro.cmd("p1", f'EXAMINE "Patients/{PATIENT}/Vaccinations"')
            assert t.startswith(b"p1 OK"), t
            lines, t = pro.cmd("p2", "UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
            assert t.startswith(b"p2 OK"), t
            text = b"\n".join(lines).decode("utf-8", "replace")
        finally:
            pro.close()
    assert text.count("Subject: Carnet de vaccination") == 1, text
    assert text.count("Subject: =?") == 2 and "ROR" in text and "Gardasil 9" in text, text
    # the patient's session rebuilds the book: every entry, once, in date order
    (book,) = books(m)
    assert [i["vaccineCode"]["text"] for i in immunizations(book)] == ["Gardasil 9", "Repevax", "ROR"]
    assert str(book["X-MSS-Vaccination"]) == "2 3"
    assert m.sql("SELECT actor, detail FROM audit_log WHERE action = 'vaccination.add' ORDER BY seq") == [
        (REMOTE_PRO, "origin=document entries=1 version=1"), (REMOTE_PRO, "origin=document entries=1 version=2"),
        (REMOTE_PRO, "origin=document entries=1 version=2")]
