"""NOTIFY (RFC 5465) with two real sessions: one acts (APPEND, CREATE, RENAME, DELETE,
SUBSCRIBE, STORE, delivery by SMTP), the other is told, between commands (no command in
progress), in IDLE, and after its own commands; the vault's rules (a professional is
told only what LIST and STATUS would show them) and the bounded queue
(NOTIFICATIONOVERFLOW)."""
import re
import smtplib
import time

import pytest

from conftest import PASSWORDS, PATIENT, PRO, PRO2
from test_imap_helpers import RawImap, multipart_message, simple_message

PERSONAL_ALL = "(personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))"


def append(r, tag, box, n):
    msg = simple_message(n)
    r.send(f'{tag} APPEND "{box}" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
    _, t = r.read_until_tagged(tag)
    assert t.startswith(f"{tag} OK".encode()), t


def wait_line(r, pattern, timeout=5):
    """The next untagged line matching pattern, read while no command is in progress;
    the lines before it are returned too."""
    r.sock.settimeout(timeout)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = r.readline()
        except TimeoutError:
            break
        seen.append(line)
        if re.search(pattern, line):
            r.sock.settimeout(15)
            return line, seen
    raise AssertionError(f"no {pattern!r} in {seen!r}")


def quiet(r, secs=1.5):
    """Nothing arrives unasked for secs, and a NOOP brings no STATUS or LIST either."""
    r.sock.settimeout(secs)
    try:
        line = r.readline()
        raise AssertionError(f"unexpected {line!r}")
    except TimeoutError:
        pass
    r.sock.settimeout(15)
    lines, t = r.cmd("q", "NOOP")
    assert not [l for l in lines if l.startswith((b"* STATUS", b"* LIST"))], lines
    return lines


def status_of(r, box):
    lines, t = r.cmd("st", f'STATUS "{box}" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)')
    assert t.startswith(b"st OK"), t
    return dict(re.findall(rb"(MESSAGES|UIDNEXT|UIDVALIDITY|UNSEEN) (\d+)", lines[0]))


def notified(line):
    return dict(re.findall(rb"(MESSAGES|UIDNEXT|UIDVALIDITY|UNSEEN) (\d+)", line))


@pytest.fixture
def pair(imapd):
    a, b = RawImap(imapd), RawImap(imapd)
    a.login(PATIENT)
    b.login(PATIENT)
    yield imapd, a, b
    a.close()
    b.close()


def test_capability_and_arguments(pair):
    _, a, b = pair
    lines, _ = b.cmd("c1", "CAPABILITY")
    assert b" NOTIFY" in lines[0]
    _, t = b.cmd("c2", "NOTIFY SET (personal (MessageNew AnnotationChange))")
    assert re.match(rb"c2 NO \[BADEVENT \(MessageNew MessageExpunge FlagChange MailboxName "
                    rb"SubscriptionChange\)\]", t), t
    _, t = b.cmd("c3", "NOTIFY SET (inboxes (ServerMetadataChange))")
    assert t.startswith(b"c3 NO [BADEVENT"), t
    for i, bad in enumerate(["NOTIFY", "NOTIFY SET", "NOTIFY SET (personal)", "NOTIFY SET (selected (MessageNew))",
                             "NOTIFY SET (nowhere (MessageNew))", "NOTIFY SET (personal (MessageNew (UID)))",
                             "NOTIFY SET (selected (MessageNew (NOSUCHATT) MessageExpunge))"]):
        _, t = b.cmd(f"d{i}", bad)
        assert t.startswith(f"d{i} BAD".encode()), (bad, t)
    _, t = b.cmd("c4", "NOTIFY NONE")
    assert t.startswith(b"c4 OK")
    # the session goes on after all that
    _, t = b.cmd("c5", "NOOP")
    assert t.startswith(b"c5 OK")


def test_status_indicator_and_message_events(pair):
    _, a, b = pair
    append(a, "a0", "INBOX", 0)
    expect = status_of(a, "INBOX")
    lines, t = b.cmd("n1", f"NOTIFY SET STATUS {PERSONAL_ALL}")
    assert t.startswith(b"n1 OK"), t
    inbox = [l for l in lines if l.startswith(b'* STATUS "INBOX"') or l.startswith(b"* STATUS INBOX")]
    assert inbox and notified(inbox[0]) == expect, lines
    assert b"HIGHESTMODSEQ" in inbox[0]

    # a delivery: told at once, no command in progress (RFC 5465 4)
    t0 = time.monotonic()
    append(a, "a1", "INBOX", 1)
    line, _ = wait_line(b, rb"^\* STATUS \"?INBOX")
    assert time.monotonic() - t0 < 3
    assert notified(line) == status_of(a, "INBOX")

    # a flag change and an expunge by the other session
    a.cmd("a2", "SELECT INBOX")
    a.cmd("a3", "STORE 1 +FLAGS (\\Seen \\Deleted)")
    line, _ = wait_line(b, rb"^\* STATUS \"?INBOX")
    a.cmd("a4", "EXPUNGE")
    line, _ = wait_line(b, rb"^\* STATUS \"?INBOX.*MESSAGES %d" % (int(expect[b"MESSAGES"])))

    # in IDLE too
    b.send(b"i1 IDLE\r\n")
    assert b.readline().startswith(b"+")
    append(a, "a5", "INBOX", 5)
    line, _ = wait_line(b, rb"^\* STATUS \"?INBOX")
    assert notified(line) == status_of(a, "INBOX")
    b.send(b"DONE\r\n")
    _, t = b.read_until_tagged("i1")
    assert t.startswith(b"i1 OK")

    # NOTIFY NONE: nothing more
    _, t = b.cmd("n2", "NOTIFY NONE")
    append(a, "a6", "INBOX", 6)
    quiet(b)


def test_mailbox_names_and_subscriptions(pair):
    _, a, b = pair
    _, t = b.cmd("n1", f"NOTIFY SET {PERSONAL_ALL}")
    assert t.startswith(b"n1 OK"), t
    a.cmd("a1", "CREATE Projets")
    line, _ = wait_line(b, rb"^\* LIST ")
    assert line == b'* LIST () "/" "Projets"' or line == b'* LIST () "/" Projets', line
    _, t = a.cmd("a2", "SUBSCRIBE Projets")
    assert t.startswith(b"a2 OK"), t
    line, _ = wait_line(b, rb"^\* LIST ")
    assert re.match(rb'\* LIST \(\\Subscribed\) "/" "?Projets"?$', line), line
    a.cmd("a3", "RENAME Projets Archives")
    line, _ = wait_line(b, rb"^\* LIST ")
    assert re.match(rb'\* LIST \(.*\) "/" "?Archives"? \("OLDNAME" \("?Projets"?\)\)$', line), line
    a.cmd("a4", "DELETE Archives")
    line, _ = wait_line(b, rb"^\* LIST ")
    assert re.match(rb'\* LIST \(\\NonExistent\) "/" "?Archives"?$', line), line
    # a mailbox created here is told like any other, after the command
    lines, t = b.cmd("b1", "CREATE Mine")
    assert t.startswith(b"b1 OK")
    line, _ = wait_line(b, rb"^\* LIST ")
    assert b"Mine" in line
    # new mailboxes are watched for messages too (PERSONAL)
    append(a, "a5", "Mine", 1)
    line, _ = wait_line(b, rb"^\* STATUS \"?Mine")
    assert b"MESSAGES 1" in line


def test_selected_message_new_with_fetch_attributes(pair):
    _, a, b = pair
    append(a, "a0", "INBOX", 0)
    lines, _ = b.cmd("b1", "SELECT INBOX")
    exists = int(re.search(rb"\* (\d+) EXISTS", b"\n".join(lines)).group(1))
    _, t = b.cmd("n1", "NOTIFY SET (selected (MessageNew (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)]) "
                       "MessageExpunge)) (personal (MessageNew))")
    assert t.startswith(b"n1 OK"), t
    append(a, "a1", "INBOX", 7)
    line, seen = wait_line(b, rb"^\* %d FETCH" % (exists + 1))
    assert b"* %d EXISTS" % (exists + 1) in seen, seen
    assert b"UID " in line and b"FLAGS (" in line and b"HEADER.FIELDS (SUBJECT)" in line.upper(), line
    # the selected mailbox gets no STATUS
    assert not [l for l in seen if l.startswith(b"* STATUS")]
    # \Seen is never set by a notification
    lines, _ = b.cmd("b2", f"FETCH {exists + 1} (FLAGS)")
    assert b"\\Seen" not in lines[0]
    # an expunge by the other session, also told at once
    a.cmd("a2", "SELECT INBOX")
    a.cmd("a3", f"STORE {exists + 1} +FLAGS.SILENT (\\Deleted)")
    a.cmd("a4", "EXPUNGE")
    wait_line(b, rb"^\* %d EXPUNGE" % (exists + 1))


def test_selected_delayed_waits_for_a_command(pair):
    _, a, b = pair
    b.cmd("b1", "SELECT INBOX")
    _, t = b.cmd("n1", "NOTIFY SET (selected-delayed (MessageNew MessageExpunge))")
    assert t.startswith(b"n1 OK"), t
    append(a, "a1", "INBOX", 1)
    b.sock.settimeout(1.5)
    with pytest.raises(TimeoutError):
        b.readline()
    b.sock.settimeout(15)
    lines, _ = b.cmd("b2", "NOOP")
    assert any(l.endswith(b" EXISTS") for l in lines), lines


def test_overflow(mss):
    mss.set(imap_notify_max_events="3")
    mss.start("imapd")
    a, b = RawImap(mss), RawImap(mss)
    try:
        a.login(PATIENT)
        b.login(PATIENT)
        for name in ("P", "P/a", "P/b", "P/c", "P/d"):
            a.cmd("c", f"CREATE {name}")
        _, t = b.cmd("n1", "NOTIFY SET (subtree (P Q) (MailboxName MessageNew))")
        assert t.startswith(b"n1 OK"), t
        # one RENAME renames five mailboxes at once: five notifications, three allowed
        _, t = a.cmd("a1", "RENAME P Q")
        assert t.startswith(b"a1 OK"), t
        line, seen = wait_line(b, rb"^\* OK \[NOTIFICATIONOVERFLOW\]")
        assert not [l for l in seen if l.startswith(b"* LIST")], seen
        # NOTIFY is off now (RFC 5465 5.8): nothing more until NOTIFY SET again
        append(a, "a2", "Q/a", 1)
        quiet(b)
        _, t = b.cmd("n2", "NOTIFY SET (subtree Q (MessageNew))")
        assert t.startswith(b"n2 OK")
        append(a, "a3", "Q/a", 2)
        wait_line(b, rb'^\* STATUS "?Q/a')
    finally:
        a.close()
        b.close()


def test_too_many_mailboxes_refused(mss):
    mss.set(imap_notify_max_mailboxes="2")
    mss.start("imapd")
    b = RawImap(mss)
    try:
        b.login(PATIENT)
        b.cmd("c", "CREATE A1")
        b.cmd("c", "CREATE A2")
        _, t = b.cmd("n1", "NOTIFY SET (personal (MessageNew))")
        assert t.startswith(b"n1 NO [NOTIFICATIONOVERFLOW]"), t
        _, t = b.cmd("n2", "NOTIFY SET (mailboxes (INBOX A1) (MessageNew))")
        assert t.startswith(b"n2 OK"), t
    finally:
        b.close()


# ---- the vault ---------------------------------------------------------------------

def send_document(m, subject="compte rendu", n=5):
    with smtplib.SMTP("127.0.0.1", m.port("submission"), timeout=30) as s:
        s.starttls(context=m.login_context(PRO))
        s.login(PRO, PASSWORDS[PRO])
        s.sendmail(PRO, [PATIENT], multipart_message(subject, n=n))


def shared_folder(m):
    """The patient's vault folder that holds documents (waits for the filing)."""
    r = RawImap(m)
    r.login(PATIENT)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lines, _ = r.cmd("l", 'LIST "" "Documents/*"')
            for line in lines:
                name = re.search(rb'"/" "?([^"]*)"?$', line).group(1).decode()
                st, _ = r.cmd("s", f'STATUS "{name}" (MESSAGES)')
                if st and b"MESSAGES 0" not in st[0]:
                    return name
            time.sleep(0.2)
    finally:
        r.close()
    raise AssertionError("no document filed in the vault")


def last_told(r, box, settle=2.0, timeout=20):
    """The last STATUS of box told while nothing else came for settle seconds (a
    message may be filed as several documents, each told)."""
    r.sock.settimeout(settle)
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = r.readline()
        except TimeoutError:
            if last is not None:
                break
            continue
        if line.startswith(b"* STATUS") and box.encode() in line:
            last = line
    r.sock.settimeout(15)
    assert last is not None, f"no STATUS for {box}"
    return notified(last)


def wait_messages(r, box, n, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(status_of(r, box)[b"MESSAGES"]) == n:
            return
        time.sleep(0.2)
    raise AssertionError(f"{box} never held {n} messages")


def test_vault_rules(mss):
    """A granted professional is told of a shared folder exactly what STATUS shows them
    (visible documents only); an ungranted one of nothing; a withdrawn grant ends it."""
    m = mss
    m.start("smtpd")
    m.start("imapd")
    send_document(m)
    folder = shared_folder(m)
    shared = f"Patients/{PATIENT}/{folder}"
    pat = RawImap(m)
    pat.login(PATIENT)
    _, t = pat.cmd("g1", f'SETACL Documents "{PRO}" lr')
    assert t.startswith(b"g1 OK"), t
    pro, pro2 = RawImap(m, cert="pro"), RawImap(m, cert="pro2")
    try:
        pro.login(PRO)
        pro2.login(PRO2)
        spec = '(subtree "Patients" (MessageNew MessageExpunge FlagChange MailboxName))'
        lines, t = pro.cmd("p1", f"NOTIFY SET STATUS {spec}")
        assert t.startswith(b"p1 OK"), t
        mine = [l for l in lines if shared.encode() in l]
        assert len(mine) == 1 and notified(mine[0]) == status_of(pro, shared), lines
        lines, t = pro2.cmd("q1", f"NOTIFY SET STATUS {spec}")
        assert t.startswith(b"q1 OK") and lines == [], lines

        first = int(notified(mine[0])[b"MESSAGES"])

        # a second document: the granted professional is told, the other not
        send_document(m, "second compte rendu", n=6)
        told = last_told(pro, shared)
        now = int(told[b"MESSAGES"])
        assert now > first
        assert told == status_of(pro, shared)
        quiet(pro2)

        # the patient masks the last one: the count goes back, as STATUS says
        wait_messages(pat, folder, now)
        pat.cmd("g2", f'SELECT "{folder}"')
        _, t = pat.cmd("g3", f"STORE {now} +FLAGS ($Masked)")
        assert t.startswith(b"g3 OK"), t
        told = last_told(pro, shared)
        assert int(told[b"MESSAGES"]) == now - 1
        assert told == status_of(pro, shared)

        # the grant withdrawn: a third document tells the professional nothing
        _, t = pat.cmd("g4", f'DELETEACL Documents "{PRO}"')
        assert t.startswith(b"g4 OK")
        send_document(m, "troisieme compte rendu", n=7)
        deadline = time.monotonic() + 15
        while int(status_of(pat, folder)[b"MESSAGES"]) == now and time.monotonic() < deadline:
            time.sleep(0.2)
        assert int(status_of(pat, folder)[b"MESSAGES"]) > now
        # the folder left LIST (MailboxName, RFC 5465 5.4): that, and no count
        pro.sock.settimeout(2)
        told = []
        try:
            while True:
                told.append(pro.readline())
        except TimeoutError:
            pass
        pro.sock.settimeout(15)
        assert all(re.match(rb'\* LIST \(\\NonExistent\) "/" "Patients/', l) for l in told), told
        quiet(pro, 1)
        lines, t = pro.cmd("p2", f'STATUS "{shared}" (MESSAGES)')
        assert t.startswith(b"p2 NO")
    finally:
        pro.close()
        pro2.close()
        pat.close()
