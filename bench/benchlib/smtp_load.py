"""SMTP load generator: C client processes (no GIL between them), each sending its
share of N messages of S bytes, K messages per connection.

Modes: "starttls" (EHLO, STARTTLS with a client certificate, EHLO, optional AUTH
EXTERNAL), "tls" (TLS from the first byte), "plain" (no TLS).
Latency of a message: from MAIL FROM to the 250 after the final dot."""

import multiprocessing
import os
import smtplib
import ssl
import time

from . import common


def client_context(pki, cert="pro"):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=os.path.join(pki, "ca.crt"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(os.path.join(pki, cert + ".crt"), os.path.join(pki, cert + ".key"))
    return ctx


def make_message(sender, rcpt, size, seq):
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: bench %d\r\n"
            "Message-ID: <bench.%d.%d@bench.test>\r\n"
            "Date: Sun, 29 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\nX-MSS-NIL: mss-bench\r\n\r\n"
            % (sender, rcpt, seq, os.getpid(), seq))
    line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnop\r\n"
    body_len = max(0, size - len(head))
    body = (line * (body_len // len(line) + 1))[:body_len]
    if not body.endswith("\r\n"):
        body = body[:-2] + "\r\n" if len(body) >= 2 else "\r\n"
    return (head + body).encode("ascii")


def _connect(job):
    host, port, mode = "127.0.0.1", job["port"], job["mode"]
    ctx = client_context(job["pki"], job.get("cert", "pro")) if mode != "plain" else None
    if mode == "tls":
        s = smtplib.SMTP_SSL(host, port, timeout=job["timeout"], context=ctx,
                             local_hostname="client.bench.test")
    else:
        s = smtplib.SMTP(host, port, timeout=job["timeout"], local_hostname="client.bench.test")
    s.ehlo()
    if mode == "starttls":
        s.starttls(context=ctx)
        s.ehlo()
    if job.get("auth_external"):
        code, resp = s.docmd("AUTH", "EXTERNAL =")
        if code != 235:
            raise smtplib.SMTPResponseException(code, resp)
    return s


def send_one(port, mode, pki, sender, rcpt, subject, auth_external=False, cert="pro", timeout=60):
    """One message on its own connection (bench/relay's latency probes)."""
    s = _connect({"port": port, "mode": mode, "pki": pki, "cert": cert, "timeout": timeout,
                  "auth_external": auth_external})
    try:
        msg = make_message(sender, rcpt, 4096, 0).replace(b"Subject: bench 0", subject.encode("ascii"), 1)
        refused = s.sendmail(sender, [rcpt], msg)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
        s.quit()
    finally:
        s.close()


def _worker(job, out):
    lat, conn_lat, errors, sent = [], [], [], 0
    n, per_conn = job["count"], job["per_conn"]
    seq = job["first_seq"]
    deadline = time.monotonic() + job["max_seconds"]
    while sent < n and time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            s = _connect(job)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
            errors.append("connect: %s" % str(e)[:200])
            if len(errors) > 20:
                break
            time.sleep(0.05)
            continue
        conn_lat.append(time.monotonic() - t0)
        try:
            for _ in range(min(per_conn, n - sent)):
                msg = make_message(job["sender"], job["rcpt"], job["size"], seq)
                seq += 1
                t1 = time.monotonic()
                refused = s.sendmail(job["sender"], [job["rcpt"]], msg)
                if refused:
                    errors.append("refused: %r" % refused)
                else:
                    lat.append(time.monotonic() - t1)
                    sent += 1
            s.quit()
        except (OSError, smtplib.SMTPException, ssl.SSLError) as e:
            errors.append("send: %s" % str(e)[:200])
            try:
                s.close()
            except OSError:
                pass
            # A permanent refusal (5xx) will not change by retrying.
            if len(errors) > 20 or getattr(e, "smtp_code", 0) >= 500:
                break
    out.put({"lat": lat, "conn": conn_lat, "errors": errors, "sent": sent})


def run(port, mode, pki, n, size, clients, per_conn, sender, rcpt, auth_external=False,
        cert="pro", max_seconds=600, timeout=60):
    """Runs the load; returns figures (messages/s, latencies in ms, errors)."""
    q = multiprocessing.Queue()
    procs = []
    share = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    seq = 0
    t0 = time.monotonic()
    for i in range(clients):
        job = dict(port=port, mode=mode, pki=pki, count=share[i], per_conn=per_conn,
                   size=size, sender=sender, rcpt=rcpt, auth_external=auth_external,
                   cert=cert, first_seq=seq, max_seconds=max_seconds, timeout=timeout)
        seq += share[i]
        p = multiprocessing.Process(target=_worker, args=(job, q))
        p.start()
        procs.append(p)
    results = [q.get(timeout=max_seconds + 120) for _ in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(timeout=30)
    lat = [x for r in results for x in r["lat"]]
    conn = [x for r in results for x in r["conn"]]
    errors = [e for r in results for e in r["errors"]]
    sent = sum(r["sent"] for r in results)
    return {
        "mode": mode, "messages": n, "size": size, "clients": clients,
        "per_connection": per_conn, "accepted": sent, "seconds": round(elapsed, 3),
        "msgs_per_s": round(sent / elapsed, 1) if sent else 0.0,
        "p50_ms": common.ms(common.percentile(lat, 50)),
        "p99_ms": common.ms(common.percentile(lat, 99)),
        "connect_p50_ms": common.ms(common.percentile(conn, 50)),
        "errors": len(errors), "first_errors": errors[:5],
        "_t0": t0,
    }
