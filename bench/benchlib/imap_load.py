"""IMAP measurements, the same for every server: single-session latencies on a large
mailbox, a mixed workload from C client processes, and memory per idle session.

Every session runs over TLS (IMAPS) with the client certificate presented."""

import imaplib
import multiprocessing
import os
import ssl
import time

from . import common


def context(pki, cert):
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(os.path.join(pki, cert + ".crt"), os.path.join(pki, cert + ".key"))
    return ctx


def login(server, timeout=300):
    """server: dict(port, pki, cert, user, password, external)."""
    c = imaplib.IMAP4_SSL("127.0.0.1", server["port"], timeout=timeout,
                          ssl_context=context(server["pki"], server.get("cert")))
    if server.get("external"):
        c.authenticate("EXTERNAL", lambda _x: b"")
    else:
        c.login(server["user"], server["password"])
    return c


def timed(fn, *args):
    t = time.monotonic()
    typ, data = fn(*args)
    if typ != "OK":
        raise RuntimeError("%s: %s %r" % (getattr(fn, "__name__", "?"), typ, data[:1]))
    return time.monotonic() - t, data


def warm_up(server):
    """What a user's client does first and what leaves a server warm: one session that
    SELECTs INBOX and FETCHes what a message list shows of every message. The same for
    every server, before anything is timed; returns its duration in seconds."""
    c = login(server)
    try:
        t = time.monotonic()
        timed(c.select, "INBOX")
        timed(c.fetch, "1:*", "(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)")
        d = time.monotonic() - t
        c.logout()
    except Exception:
        c.shutdown()
        raise
    return d


def select_probe(server, reps=3):
    """One session of a SELECT INBOX and reps re-SELECTs: the re-SELECTs' times in ms.
    Run after the warm-up and before anything timed, on every server, to show that the
    state measured is steady (a re-SELECT then reads nothing the previous one did not)."""
    c = login(server)
    try:
        timed(c.select, "INBOX")
        out = [common.ms(timed(c.select, "INBOX")[0]) for _ in range(reps)]
        c.logout()
    except Exception:
        c.shutdown()
        raise
    return out


def body_fetches(c, uidnext, n, seed=15):
    """UID FETCH u BODY.PEEK[] of n UIDs drawn over the whole mailbox (the same draw for
    every server: both number their messages 1..M here); the latencies in seconds."""
    import random
    draw = random.Random(seed)
    out = []
    for _ in range(n):
        d, data = timed(c.uid, "FETCH", str(draw.randrange(1, uidnext)), "(BODY.PEEK[])")
        if not data or data[0] is None:
            raise RuntimeError("UID FETCH BODY.PEEK[]: no message")
        out.append(d)
    return out


class placement:
    """Where the single-session figures run, the same for every server. mode "one": the
    client (this process) and the server's whole process tree on one CPU, the last this
    process may use (the session's processes forked later inherit it); "apart": the
    client on that CPU, the server's processes on the others. Unpinned, the scheduler
    chooses one or the other as the machine's load goes and keeps it for the session's
    life, and on this 2-CPU virtual machine it doubles a body fetch's server CPU on both
    servers (each wake-up across CPUs, and a server CPU idle between commands): MSS
    68-76 us one CPU, 164-188 apart; Dovecot 81-89 and 152-163. Hence two figures, each
    placement chosen, not found. With one CPU nothing is pinned. Undone on exit (the
    mixed workload and the idle sessions run unpinned)."""

    def __init__(self, pids_fn, mode="one"):
        self.pids_fn = pids_fn
        self.mode = mode
        self.all = set(common.cpus())
        self.client = None
        self.server = None

    def describe(self):
        if self.client is None:
            return "not pinned (one CPU)"
        if self.mode == "one":
            return "the client and the server's processes pinned to CPU %d" % self.client
        return "the client pinned to CPU %d, the server's processes to CPU %s" % (
            self.client, ",".join(str(c) for c in sorted(self.server)))

    def __enter__(self):
        if len(self.all) < 2:
            return self
        self.client = max(self.all)
        self.server = {self.client} if self.mode == "one" else self.all - {self.client}
        os.sched_setaffinity(0, {self.client})
        common.set_affinity(self.pids_fn(), self.server)
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            common.set_affinity(self.pids_fn(), self.all)
            os.sched_setaffinity(0, self.all)
        return False


def raw_command(c, command, tag=b"R1"):
    """Sends command on imaplib session c and reads its answer raw up to the tagged line,
    parsing nothing: counts its bytes and lines. The client's cost is then the TLS reads
    (imaplib builds Python objects line by line: about 0.27 s for 100,000 FLAGS lines,
    several times the server's work). Returns (seconds, bytes, lines)."""
    end = b"\n" + tag + b" "
    t = time.monotonic()
    c.send(tag + b" " + command + b"\r\n")
    size = lines = 0
    tail = b"\n"
    while True:
        chunk = c.file.read1(65536)
        if not chunk:
            raise RuntimeError("%s: connection closed" % command.decode())
        size += len(chunk)
        lines += chunk.count(b"\n")
        tail = tail[-200:] + chunk
        k = tail.rfind(end)
        if k >= 0 and tail.endswith(b"\r\n"):
            d = time.monotonic() - t
            status = tail[k + len(end):].split(None, 1)[0]
            if status != b"OK":
                raise RuntimeError("%s: %s" % (command.decode(), tail[k + 1:].decode(
                    "ascii", "replace").strip()))
            return d, size, lines


def latencies(server, pids_fn, select_reps=5, flags_reps=5, body_reps=50):
    """SELECT INBOX (median of select_reps), FETCH 1:* (FLAGS) (read raw, raw_command:
    its p50 and the server's CPU per command) and UID FETCH n BODY.PEEK[] (body_reps UIDs
    over the mailbox) on the populated, warmed-up mailbox, one session; and the first body
    fetch of a new session, right after its SELECT. Run inside placement()."""
    c = login(server)
    try:
        first, data = timed(c.select, "INBOX")
        exists = int(data[0])
        uidnext = int(c.response("UIDNEXT")[1][0])
        sel = [timed(c.select, "INBOX")[0] for _ in range(select_reps)]
        pids = pids_fn()
        ns0, _ = common.run_of(pids)
        flags = [raw_command(c, b"FETCH 1:* (FLAGS)", b"F%d" % i) for i in range(flags_reps)]
        ns1, _ = common.run_of(pids)
        bodies = body_fetches(c, uidnext, body_reps)
        c.logout()
    except Exception:
        c.shutdown()
        raise
    # last, in a session of its own, so that it changes nothing measured above
    c = login(server)
    try:
        timed(c.select, "INBOX")
        first_body = body_fetches(c, uidnext, 1, seed=1)[0]
        c.logout()
    except Exception:
        c.shutdown()
        raise
    times = [f[0] for f in flags]
    return {
        "first_body_fetch_ms": common.ms(first_body),
        "body_fetch_p50_ms": common.ms(common.percentile(bodies, 50)),
        "body_fetch_p95_ms": common.ms(common.percentile(bodies, 95)),
        "messages": exists,
        "first_select_ms": common.ms(first),
        "select_p50_ms": common.ms(common.percentile(sel, 50)),
        "select_max_ms": common.ms(max(sel)),
        "fetch_all_flags_p50_ms": common.ms(common.percentile(times, 50)),
        "fetch_all_flags_max_ms": common.ms(max(times)),
        "fetch_all_flags_server_cpu_ms": round((ns1 - ns0) / 1e6 / flags_reps, 2),
        "fetch_all_flags_bytes": flags[-1][1],
        "fetch_all_flags_lines": flags[-1][2],
    }


def body_loop_round(server, pids_fn, n, seed):
    """One session: SELECT, FETCH 1 (FLAGS), one body fetch (MSS answers the first UID
    FETCHes after a SELECT without reading the mailbox's list, imap_view_lookups, then
    reads it; latencies() times the first one), then n UID FETCH u BODY.PEEK[] timed, and
    what they cost each of the server's processes (common.run_of): the TLS proxy is the
    one holding the client's connection, the session process the other one that ran the
    most. Returns (latencies, figures)."""
    c = login(server)
    try:
        timed(c.select, "INBOX")
        uidnext = int(c.response("UIDNEXT")[1][0])
        timed(c.fetch, "1", "(FLAGS)")
        body_fetches(c, uidnext, 1, seed=2)
        pids = pids_fn()
        before = {p: common.run_of([p]) for p in pids}
        lat = body_fetches(c, uidnext, n, seed)
        after = {p: common.run_of([p]) for p in pids}
        proxy = common.tcp_peer_holder(c.sock.getsockname()[1], pids)
        c.logout()
    except Exception:
        c.shutdown()
        raise
    cpu = {p: (after[p][0] - before[p][0]) / 1000.0 / n for p in pids}
    sw = {p: (after[p][1] - before[p][1]) / float(n) for p in pids}
    others = sorted((p for p in pids if p != proxy), key=lambda p: -cpu[p])
    return lat, {"cpu_us": round(sum(cpu.values()), 1),
                 "switches": round(sum(sw.values()), 2),
                 "proxy_cpu_us": round(cpu[proxy], 1) if proxy else None,
                 "session_cpu_us": round(cpu[others[0]], 1) if others else None,
                 "p50_ms": common.ms(common.percentile(lat, 50))}


def body_loop(server, pids_fn, n, rounds=3, seed=16, key="body_loop"):
    """rounds sessions of n UID FETCH u BODY.PEEK[] each in their steady state (UIDs drawn
    over the mailbox, the same draws for every server): the p50 and p95 of all the
    fetches, and the server's CPU time and context switches per fetch of the median session
    by CPU (each session's figures kept: total, TLS proxy, session process). Run inside a
    placement(), so that every session of every server runs on the same CPUs. The
    figures' names begin with key."""
    lat, per = [], []
    for i in range(rounds):
        lt, f = body_loop_round(server, pids_fn, n, seed + i)
        lat.extend(lt)
        per.append(f)
    mid = sorted(per, key=lambda f: f["cpu_us"])[len(per) // 2]
    return {key + "_n": n, key + "_rounds": rounds,
            key + "_p50_ms": common.ms(common.percentile(lat, 50)),
            key + "_p95_ms": common.ms(common.percentile(lat, 95)),
            key + "_server_cpu_us": mid["cpu_us"],
            key + "_proxy_cpu_us": mid["proxy_cpu_us"],
            key + "_session_cpu_us": mid["session_cpu_us"],
            key + "_server_switches": mid["switches"],
            key + "_per_round": per}


def _round(server, c_factory, lat, window):
    """One round: login, select, fetch flags, fetch bodies, search, logout."""
    t = time.monotonic()
    c = c_factory()
    lat["login"].append(time.monotonic() - t)
    d, data = timed(c.select, "INBOX")
    lat["select"].append(d)
    n = int(data[0])
    lo = max(1, n - window + 1)
    lat["fetch_flags"].append(timed(c.fetch, "%d:%d" % (lo, n), "(FLAGS)")[0])
    lat["fetch_bodies"].append(timed(c.fetch, "%d:%d" % (max(1, n - 9), n), "(BODY.PEEK[])")[0])
    lat["search"].append(timed(c.search, None, "UNSEEN")[0])
    t = time.monotonic()
    c.logout()
    lat["logout"].append(time.monotonic() - t)


def _worker(server, rounds, window, max_seconds, out):
    lat = {k: [] for k in ("login", "select", "fetch_flags", "fetch_bodies", "search", "logout")}
    errors = []
    deadline = time.monotonic() + max_seconds
    for _ in range(rounds):
        if time.monotonic() > deadline:
            break
        try:
            _round(server, lambda: login(server), lat, window)
        except Exception as e:  # every failure is counted and shown
            errors.append(repr(e)[:200])
            if len(errors) > 10:
                break
    out.put({"lat": lat, "errors": errors})


def mixed(server, clients, rounds, window=100, max_seconds=600):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_worker, args=(server, rounds, window, max_seconds, q))
             for _ in range(clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [q.get(timeout=max_seconds + 300) for _ in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(timeout=30)
    lat = {}
    for r in results:
        for k, v in r["lat"].items():
            lat.setdefault(k, []).extend(v)
    ops = sum(len(v) for v in lat.values())
    errors = [e for r in results for e in r["errors"]]
    out = {"clients": clients, "rounds": rounds, "ops": ops, "seconds": round(elapsed, 3),
           "ops_per_s": round(ops / elapsed, 1) if ops else 0.0,
           "errors": len(errors), "first_errors": errors[:3]}
    for k, v in lat.items():
        out[k + "_p50_ms"] = common.ms(common.percentile(v, 50))
    return out


def idle_memory(server, pids_fn, sessions=50, settle=2.0):
    """Memory added per idle session (logged in, INBOX selected), by RSS and by PSS
    summed over the server's processes (pids_fn() lists them)."""
    time.sleep(settle)
    rss0, pss0 = common.memory_of(pids_fn())
    conns = []
    try:
        for _ in range(sessions):
            c = login(server)
            c.select("INBOX")
            conns.append(c)
        time.sleep(settle)
        rss1, pss1 = common.memory_of(pids_fn())
    finally:
        for c in conns:
            try:
                c.logout()
            except Exception:  # noqa: BLE001 - best effort at the end
                pass
    return {"idle_sessions": len(conns),
            "rss_kb_per_session": round((rss1 - rss0) / max(1, len(conns)), 1),
            "pss_kb_per_session": round((pss1 - pss0) / max(1, len(conns)), 1),
            "rss_kb_before": rss0, "rss_kb_with_sessions": rss1}
