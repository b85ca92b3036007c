"""A UID FETCH of a few messages after a SELECT answered from the counts is answered
before the mailbox's messages are read (imapd/imap_view.c imap_view_lookup,
store/store_select_snapshot.c store_select_lookup_as_of, issue 15): from one block of
the mailbox's snapshot (found by its checkpoints) and the rows changed since. Its
answers must be those of a session that read the messages, byte for byte: each case
compares a session that looks up with one that reads its view just before (FETCH 1
reads it and tells nothing), both selected at the same moment, for every UID of a mailbox of 608
messages (three checkpoints), with expunges, new messages and flag changes between
the snapshot and the SELECT, between the SELECT and the FETCH, a snapshot newer than
the SELECT and one holding messages expunged while it was being read."""
import re

import pytest

from test_imap_helpers import ok_cmd as ok, patient_session as session
from test_imap_view_snapshot import FLAGS, append, last_load, loads, snapshot_rows, strip

COPIES = 75  # the 8 messages appended, copied: 608 messages, checkpoints at 0, 256 and 512
ITEMS = "(UID FLAGS MODSEQ RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
CHANGES = ("UID STORE 1,255,256,257,300,512,513,600 +FLAGS (\\Deleted)", "UID EXPUNGE 1,255,256,257,300,512,513,600",
           "UID STORE 3,258,511,514 +FLAGS ($Moved \\Flagged)")


@pytest.fixture
def lookimapd(mss):
    """mss-imapd answering every UID FETCH by lookup while the view is not read."""
    mss.set(imap_view_snapshot_min=0, imap_view_snapshot_delta=1000, imap_view_lookups=100000,
            imap_view_lookup_uids=100000)
    mss.start("imapd")
    return mss


def lookups(m):
    return len(re.findall(r"imap\.view_lookup ", m.log("imapd")))


def big(m):
    """608 messages (8 appended, copied in SQL), the snapshot written by a session that
    read them."""
    a = session(m)
    for i, flags in enumerate(FLAGS):
        append(a, f"F{i + 1}", "INBOX", flags, i)
    m.sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
          "INSERT INTO messages (mailbox_id, uid, modseq, internaldate, size, flags, keywords,"
          " blob_id, sent_date, header_size, envelope, bodystructure, body) "
          "SELECT mailbox_id, uid + 8 * i, modseq + 8 * i, internaldate, size, flags, keywords, blob_id,"
          " sent_date, header_size, envelope, bodystructure, body FROM messages, n", COPIES)
    m.sql("UPDATE mailboxes SET uidnext = (SELECT max(uid) + 1 FROM messages),"
          " highestmodseq = (SELECT max(modseq) FROM messages) WHERE id = (SELECT mailbox_id FROM messages LIMIT 1)")
    n = len(loads(m))
    ok(a, "F9", "SELECT INBOX")
    ok(a, "F10", "FETCH 1:* (FLAGS)")
    assert last_load(m, n) == ("no", 0, "yes")
    ok(a, "F11", "LOGOUT")
    a.close()
    return m


def other(m, *commands):
    b = session(m)
    ok(b, "O0", "SELECT INBOX")
    for i, cmd in enumerate(commands):
        ok(b, f"O{i + 1}", cmd)
    for i in range(3):
        append(b, f"N{i}", "INBOX", "$New" if i == 1 else "", 20 + i)
    ok(b, "O9", "LOGOUT")
    b.close()


def pair(m):
    """A session that looks up and one that read its view, selected alike."""
    out = []
    for name in ("L", "R"):
        r = session(m)
        ok(r, f"{name}0", "ENABLE CONDSTORE")
        out.append((r, strip(ok(r, f"{name}1", "SELECT INBOX"))))
    (look, sel1), (read, sel2) = out
    assert sel1 == sel2
    return look, read


def answer(r, tag, uidset):
    lines, t = r.cmd(tag, f"UID FETCH {uidset} {ITEMS}")
    return strip(lines) + [t]


def same_answers(m, look, read, sets, looked=None):
    """Each set asked of both sessions: the same answers. looked: how many the first
    session answered by lookup (all when None)."""
    n = lookups(m)
    read.cmd("R2", "FETCH 1 (UID)")  # reads the view now if not yet (FETCH tells no change)
    for i, uidset in enumerate(sets):
        got, want = answer(look, f"U{i}", uidset), answer(read, f"U{i}", uidset)
        assert got == want, (uidset, got, want)
    assert lookups(m) - n == (len(sets) if looked is None else looked)


def every_uid(m):
    uidnext = m.sql("SELECT max(uid) + 1 FROM messages")[0][0]
    return [str(u) for u in range(1, uidnext + 2)]


SETS = ("1:700", "2,255:258,301,511:514,600:700", "256", "512", "610:612", "4,6,8,250:260")


def test_unchanged(lookimapd):
    m = big(lookimapd)
    look, read = pair(m)
    n = len(loads(m))
    same_answers(m, look, read, every_uid(m) + list(SETS))
    assert len(loads(m)) == n + 1  # the second session's: the first never read the messages
    lines = answer(look, "U9", "608")
    assert lines[0].startswith(b"* 608 FETCH (UID 608 FLAGS (\\Answered $Zed) MODSEQ ("), lines


def test_changed_before_select(lookimapd):
    m = big(lookimapd)
    other(m, *CHANGES)
    look, read = pair(m)
    same_answers(m, look, read, every_uid(m) + list(SETS))
    lines = answer(look, "U9", "258")
    assert lines[0].startswith(b"* 254 FETCH (UID 258 FLAGS (") and b"$Moved" in lines[0], lines


@pytest.mark.parametrize("uidset", SETS)
def test_changed_after_select(lookimapd, uidset):
    m = big(lookimapd)
    look, read = pair(m)
    other(m, *CHANGES)
    n = len(loads(m))
    # answered by lookup as of the SELECT, then the catch-up reads the view to tell
    # the expunges by their numbers
    same_answers(m, look, read, [uidset, "1:20"], looked=1)
    assert len(loads(m)) == n + 2  # the second session's, and the first's catch-up


def test_changed_before_and_after_select(lookimapd):
    m = big(lookimapd)
    other(m, *CHANGES)
    look, read = pair(m)
    other(m, "UID STORE 2,259,601 +FLAGS (\\Deleted)", "UID EXPUNGE 2,259,601", "UID STORE 4 +FLAGS ($Late)")
    same_answers(m, look, read, ["1:700", "1:700"], looked=1)


def test_snapshot_newer_than_select(lookimapd):
    m = big(lookimapd)
    look, read = pair(m)
    other(m, *CHANGES)
    (stamp, _), = snapshot_rows(m)
    m.sql("DELETE FROM view_snapshots")
    c = session(m)
    ok(c, "C1", "SELECT INBOX")
    ok(c, "C2", "FETCH 1 (FLAGS)")  # read whole: written stamped at its SELECT
    (fresh, _), = snapshot_rows(m)
    assert fresh > stamp
    same_answers(m, look, read, ["2,255:258,301,511:514,600:700", "1:700"], looked=1)


def test_snapshot_holds_what_was_expunged_while_read(lookimapd):
    m = big(lookimapd)
    m.sql("DELETE FROM view_snapshots")
    w = session(m)
    ok(w, "W1", "SELECT INBOX")
    other(m, *CHANGES)
    m.sql("DELETE FROM view_snapshots")  # the one the other session wrote
    ok(w, "W2", "FETCH 1 (FLAGS)")  # read as of its SELECT: the expunged ones kept in it
    assert snapshot_rows(m)
    look, read = pair(m)
    same_answers(m, look, read, every_uid(m) + list(SETS))


def test_old_snapshot_reads_the_view(lookimapd):
    """A snapshot of version 1 (no checkpoints): the view is read, from it, and the
    snapshot written again as version 2, which the next session looks up in."""
    m = big(lookimapd)
    data = bytes(m.sql("SELECT data FROM view_snapshots")[0][0])
    assert data[:4] == b"MSV2"
    nck = int.from_bytes(data[4:8], "little")
    m.sql("UPDATE view_snapshots SET data = ?", b"MSV1" + data[8 + 20 * nck:])
    look, read = pair(m)
    n, k = len(loads(m)), lookups(m)
    got = answer(look, "U0", "256")
    assert last_load(m, n) == ("yes", 0, "yes") and lookups(m) == k  # read, and written again
    read.cmd("R2", "FETCH 1 (UID)")
    assert got == answer(read, "U0", "256")
    assert bytes(m.sql("SELECT data FROM view_snapshots")[0][0]) == data
    look, read = pair(m)
    same_answers(m, look, read, ["256", "257"])


def test_limits(mss):
    """By default 16 UID FETCHes of at most 64 UIDs each are answered by lookup; the
    17th, a wider one or one naming '*' reads the view ("$" needs a SEARCH, which
    reads it)."""
    mss.set(imap_view_snapshot_min=0)
    mss.start("imapd")
    m = big(mss)
    for uidset, looked in (("1:64", 1), ("1:65", 0), ("600:*", 0)):
        look, read = pair(m)
        same_answers(m, look, read, [uidset], looked=looked)
    look, read = pair(m)
    n = len(loads(m))
    same_answers(m, look, read, [str(u) for u in range(300, 317)], looked=16)
    assert len(loads(m)) == n + 2  # the second session's, and the 17th's


def damage(data, j, field, value):
    """data with field ("uid", "count", "offset", "modseq") of checkpoint j set to value."""
    at, size = {"uid": (0, 4), "count": (4, 4), "offset": (8, 4), "modseq": (12, 8)}[field]
    start = 8 + 20 * j + at
    return data[:start] + value.to_bytes(size, "little") + data[start + size:]


@pytest.mark.parametrize("j,field,value,uid", [
    (1, "count", 300, 257),  # sequence numbers from the block on would be 44 too high
    (2, "count", 0, 540),
    (2, "uid", 530, 540),    # the last block's UIDs would be 18 too high: another message's flags
    (1, "uid", 300, 257),
    (1, "uid", 100, 257),    # out of order
    (1, "modseq", 1, 257),   # the MODSEQs from it on would be wrong
    (2, "modseq", 9, 540),
    (1, "offset", 7, 257),   # inside a message
    (0, "uid", 3, 2),        # checkpoint 0 is before the first message: UID 0
])
def test_damaged_checkpoint_reads_the_view(lookimapd, j, field, value, uid):
    """A checkpoint whose numbers do not agree with the messages (a count, a UID, a
    MODSEQ, an offset) is not looked up from: the view is read, from the messages past
    the checkpoints, and answers as a session that read it."""
    m = big(lookimapd)
    data = bytes(m.sql("SELECT data FROM view_snapshots")[0][0])
    assert int.from_bytes(data[4:8], "little") == 3
    m.sql("UPDATE view_snapshots SET data = ?", damage(data, j, field, value))
    look, read = pair(m)
    same_answers(m, look, read, [str(uid), "1:700"], looked=0)
