"""Write-only delivery (issue 12, store/store_msgkey.c): a message's key is sealed to
the recipient's public key, so the process that delivers holds no account's secret.
An MX session, mid-conversation after its delivery, is searched (/proc/PID/mem, as
test_privsep does for the TLS key): neither the recipient's account key nor the
secret key derived from it is in the memory of the daemon's master or of any of its
session processes; the keys searched for are shown to be the right ones by opening
the delivered message with them. Nor is the master key: the session process opens
the store without it (the pre-login split of issue 12's step 4)."""
from conftest import PRO
from test_privsep import children, comm
from test_smtp_mx import deliver, mx  # noqa: F401  (fixture)
from test_smtp_protocol import connect
from test_tls_agent import memory_holds

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
    (name, sealed), = mx.sql("SELECT b.name, b.sealed_key FROM blobs b JOIN store_users u"
                             " ON u.id = b.user_id WHERE u.address = ?", PRO)
    assert sealed is not None
    key = atrest_helpers.message_key(account, sealed)
    plain = atrest_helpers.blob_read(mx.data_dir / "blobs" / name[:2] / name, key)
    assert b"Hello." in plain
