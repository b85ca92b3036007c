"""mssctl trust import|list: the ListeBlancheMSSante file, several DNs per domain, DNs
compared by RDN components; refused files (wrong namespace, malformed XML, DOCTYPE,
billion laughs) change nothing and fail fast."""
import time

NS = "https://listeblanche.mssante.fr/schema"
DN1 = "CN=mx.other-operator.test,OU=12345678900011,O=Other Operator,C=FR"
DN2 = "CN=mx2.other-operator.test,OU=12345678900011,O=Other Operator,ST=Paris (75),C=FR"


def xml(domains, ns=NS):
    body = ""
    for name, dns in domains:
        body += f"<Domaine><Nom>{name}</Nom><Description>Opérateur {name}</Description>"
        body += "".join(f"<DNCertificatOperateur>{dn}</DNCertificatOperateur>" for dn in dns)
        body += "<DateMAJ>2026-01-15</DateMAJ></Domaine>\n"
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListeBlancheMSSante xmlns="{ns}">\n'
            f"<ListeDomaines>\n{body}</ListeDomaines>\n</ListeBlancheMSSante>\n")


def imp(mss, text, check=True):
    p = mss.root / "trust.xml"
    p.write_text(text, encoding="utf-8")
    return mss.ctl("trust", "import", str(p), check=check)


def test_import_several_dns_and_list(mss):
    r = imp(mss, xml([("other-operator.test", [DN1, DN2]), ("Third.test", ["CN=mx.third.test,C=FR"])]))
    assert "2 domains, 3 entries (added 3, removed 0)" in r.stdout
    out = mss.ctl("trust", "list").stdout
    assert sum(l.startswith("other-operator.test ") for l in out.splitlines()) == 2
    assert "third.test" in out and "3 entries" in out
    assert DN2 in out and "2026-01-15" in out
    assert "1 entry" in mss.ctl("trust", "list", "third").stdout
    # same DN written differently: still the same entry
    same = "cn=MX.other-operator.test, ou=12345678900011, o=Other  Operator, c=fr"
    r = imp(mss, xml([("other-operator.test", [same, DN2]), ("third.test", ["CN=mx.third.test,C=FR"])]))
    assert "(added 0, removed 0)" in r.stdout
    r = imp(mss, xml([("other-operator.test", [DN1])]))
    assert "(added 0, removed 2)" in r.stdout
    rows = mss.sql("SELECT action, result FROM audit_log WHERE action = 'admin.trust.import'")
    assert len(rows) == 3 and all(res == "ok" for _, res in rows)


def refused(mss, text, why):
    imp(mss, xml([("other-operator.test", [DN1])]))
    t0 = time.monotonic()
    r = imp(mss, text, check=False)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, r.stdout
    assert why in r.stderr, r.stderr
    assert "1 entry" in mss.ctl("trust", "list").stdout   # nothing changed
    return elapsed


def test_wrong_namespace_refused(mss):
    refused(mss, xml([("a.test", [DN1])], ns="https://example.invalid/schema"), "namespace")


def test_malformed_refused(mss):
    text = xml([("a.test", [DN1])]).replace("</Domaine>", "", 1)
    refused(mss, text, "line ")
    refused(mss, "<ListeBlancheMSSante", "line ")
    refused(mss, "", "line ")


def test_bad_entries_refused(mss):
    refused(mss, xml([("bad domain.test", [DN1])]), "bad domain name")
    refused(mss, xml([("a.test", [])]), "without DNCertificatOperateur")
    refused(mss, xml([("a.test", ["not a dn"])]), "bad DNCertificatOperateur")


def test_billion_laughs_refused_quickly(mss):
    ents = '<!ENTITY lol "lol">\n' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n{ents}]>\n<ListeBlancheMSSante xmlns="{NS}"><ListeDomaines>'
            "<Domaine><Nom>&lol9;</Nom><DNCertificatOperateur>CN=x</DNCertificatOperateur></Domaine>"
            "</ListeDomaines></ListeBlancheMSSante>\n")
    assert refused(mss, bomb, "DOCTYPE") < 2.0


def test_external_entity_refused(mss):
    text = ('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
            f'<ListeBlancheMSSante xmlns="{NS}"><ListeDomaines><Domaine><Nom>&e;</Nom>'
            "</Domaine></ListeDomaines></ListeBlancheMSSante>")
    refused(mss, text, "DOCTYPE")


def test_usage(mss):
    assert mss.ctl("trust", check=False).returncode == 2
    assert mss.ctl("trust", "import", check=False).returncode == 2
    r = mss.ctl("trust", "import", str(mss.root / "missing.xml"), check=False)
    assert r.returncode == 1
