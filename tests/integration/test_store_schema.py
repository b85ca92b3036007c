"""Store schema properties that keep large mailboxes fast (issue 4: SELECT and FETCH
1:* (FLAGS) on 100,000 messages): the queries behind them must be index-only."""
import sqlite3

import pytest

# reads and rewrites the SQLite file itself
pytestmark = pytest.mark.sqlite_only


# The query store_select runs (store/store_select.c, MSG_COLS).
SELECT_ALL = ("SELECT uid, flags, modseq, internaldate, size, keywords FROM messages "
              "WHERE mailbox_id = ? ORDER BY uid")
CHANGES = ("SELECT uid, flags, modseq, internaldate, size, keywords FROM messages "
           "WHERE mailbox_id = ? AND modseq > ? ORDER BY uid")


def plan(m, query, *params):
    con = sqlite3.connect(m.data_dir / "mss.db")
    try:
        return " ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + query, params))
    finally:
        con.close()


def test_select_reads_only_the_covering_index(mss_factory):
    m = mss_factory()
    p = plan(m, SELECT_ALL, 1)
    assert "COVERING INDEX messages_select" in p, p
    assert "TEMP B-TREE" not in p, p  # no sort: the index is in UID order


def test_changes_since_uses_an_index(mss_factory):
    m = mss_factory()
    p = plan(m, CHANGES, 1, 5)
    assert "USING" in p and "INDEX" in p, p
