"""mssctl directory import|show|search|enable|disable with small hand-written files:
columns found by header name, 31 and 32 columns, CRLF, empty lines, bad UTF-8,
duplicate addresses, a missing column, reimport counts, --strict, one transaction;
and a synthetic file from tests/gen_directory.py."""
import re
import subprocess
import sys

from conftest import PRO, SRC

COLS31 = ["Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
          "Identification nationale PP", "Type identifiant structure", "Identification Structure",
          "Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
          "Catégorie profession", "Libellé de catégorie profession", "Code Profession",
          "Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
          "Raison Sociale structure BAL", "Complément destinataire", "Complément point géographique",
          "Numéro Voie", "Indice répétition voie", "Code type de voie", "Libellé type de voie",
          "Libellé Voie", "Mention distribution", "Bureau cedex", "Code postal", "Code commune", "Pays"]


def row(address, bal="PER", name="MARTIN", first="Jean", rpps="10001234567", struct_id="750000001",
        struct_name="Cabinet Martin", prof=("10", "Médecin"), postcode="75001"):
    v = dict.fromkeys(COLS31, "")
    v.update({"Type de BAL": bal, "Adresse BAL": address, "Type Identifiant PP": "8" if rpps else "",
              "Identifiant PP": rpps, "Identification nationale PP": ("8" + rpps) if rpps else "",
              "Type identifiant structure": "1", "Identification Structure": struct_id,
              "Civilité d'exercice": "DR" if bal == "PER" else "", "Nom d'exercice": name,
              "Prénom d'exercice": first, "Code Profession": prof[0], "Libellé Profession": prof[1],
              "Dématérialisation": "True", "Raison Sociale structure BAL": struct_name,
              "Code postal": postcode, "Pays": "99100"})
    return v


def render(rows, cols=COLS31, eol="\n"):
    lines = ["|".join(cols)] + ["|".join(r.get(c, "") for c in cols) for r in rows]
    return eol.join(lines) + eol


def counts(out):
    m = re.search(r"entries: (\d+) \(added (\d+), changed (\d+), removed (\d+)\)", out)
    assert m, out
    return tuple(int(x) for x in m.groups())


def imp(mss, text, *opts, name="dir.csv", check=True, raw=None):
    p = mss.root / name
    if raw is not None:
        p.write_bytes(raw)
    else:
        p.write_text(text, encoding="utf-8", newline="")
    return mss.ctl("directory", "import", *opts, str(p), check=check)


def test_import_show_search_reimport(mss):
    rows = [row(PRO), row("pharmacie@pro.mss.test", bal="ORG", name="", first="", rpps="",
                         struct_name="Pharmacie du Parc", prof=("21", "Pharmacien")),
            row("dr.durand@other.test", name="DURAND", first="Anne", rpps="10009876543")]
    r = imp(mss, render(rows))
    assert counts(r.stdout) == (3, 3, 0, 0)
    r = mss.ctl("directory", "show", PRO.upper())
    assert f"address: {PRO}" in r.stdout
    assert "identifier: RPPS 10001234567" in r.stdout
    assert "structure: FINESS 750000001 | Cabinet Martin" in r.stdout
    assert "local account: professional (active)" in r.stdout
    r = mss.ctl("directory", "show", "dr.durand@other.test")
    assert "local account: none" in r.stdout
    r = mss.ctl("directory", "search", "pharmacien")
    assert "pharmacie@pro.mss.test" in r.stdout and "1 entry" in r.stdout
    r = mss.ctl("directory", "search", "parc")        # structure name
    assert "pharmacie@pro.mss.test" in r.stdout
    r = mss.ctl("directory", "search", "100%_")       # no LIKE wildcards
    assert "0 entries" in r.stdout
    # same file: nothing changes
    assert counts(imp(mss, render(rows)).stdout) == (3, 0, 0, 0)
    # one renamed, one removed, one added
    rows2 = [row(PRO, name="MARTIN-DUPONT"), rows[1], row("new@other.test", name="NEW", rpps="10000000009")]
    assert counts(imp(mss, render(rows2)).stdout) == (3, 1, 1, 1)
    assert mss.ctl("directory", "show", "dr.durand@other.test", check=False).returncode == 1
    assert "MARTIN-DUPONT" in mss.ctl("directory", "show", PRO).stdout
    # administrator's flag
    mss.ctl("directory", "disable", PRO)
    assert "state: inactive" in mss.ctl("directory", "show", PRO).stdout
    assert counts(imp(mss, render(rows2)).stdout) == (3, 0, 0, 0)
    assert "state: inactive" in mss.ctl("directory", "show", PRO).stdout   # survives a reimport
    mss.ctl("directory", "enable", PRO)
    audit = mss.sql("SELECT action, detail FROM audit_log WHERE action LIKE 'admin.directory.%'")
    assert any(a == "admin.directory.import" and "added=3" in (d or "") for a, d in audit), audit


def test_header_in_another_order(mss):
    cols = list(reversed(COLS31))
    r = imp(mss, render([row(PRO)], cols=cols))
    assert counts(r.stdout) == (1, 1, 0, 0)
    out = mss.ctl("directory", "show", PRO).stdout
    assert "name: MARTIN" in out and "first name: Jean" in out and "profession: 10 Médecin" in out


def test_missing_column_refused_naming_it(mss):
    imp(mss, render([row(PRO)]))
    cols = [c for c in COLS31 if c != "Code Profession"]
    r = imp(mss, render([row("other@pro.mss.test")], cols=cols), check=False)
    assert r.returncode == 1
    assert 'missing column "Code Profession"' in r.stderr
    # nothing changed
    assert mss.ctl("directory", "show", PRO).returncode == 0
    assert mss.ctl("directory", "show", "other@pro.mss.test", check=False).returncode == 1


def test_duplicate_addresses_keep_every_structure(mss):
    rows = [row(PRO, struct_id="750000001", struct_name="Clinique A"),
            row(PRO, struct_id="750000002", struct_name="Clinique B", name="OTHER"),
            row(PRO, struct_id="750000001", struct_name="Clinique A")]
    r = imp(mss, render(rows))
    assert counts(r.stdout) == (1, 1, 0, 0)
    out = mss.ctl("directory", "show", PRO).stdout
    assert out.count("structure: ") == 2
    assert "Clinique A" in out and "Clinique B" in out
    assert "name: MARTIN" in out          # the first line gives the person
    # losing one structure is a change
    assert counts(imp(mss, render(rows[:1])).stdout) == (1, 0, 1, 0)
    assert mss.ctl("directory", "show", PRO).stdout.count("structure: ") == 1


def test_bad_utf8_empty_lines_crlf(mss):
    good = render([row(PRO), row("b@pro.mss.test", rpps="10000000002")], eol="\r\n").encode()
    header, l1, l2 = good.split(b"\r\n")[:3]
    bad = l2.replace(b"b@pro", b"b\xff@pro")
    raw = header + b"\r\n" + l1 + b"\r\n\r\n\n" + bad + b"\r\n" + l2.replace(b"b@pro", b"c@pro") + b"\r\n"
    r = imp(mss, None, raw=raw)
    assert counts(r.stdout) == (2, 2, 0, 0)
    assert "1 unreadable" in r.stdout and "2 empty" in r.stdout
    assert "unreadable line 5: not UTF-8" in r.stdout
    # --strict refuses the whole file
    r = imp(mss, None, "--strict", raw=raw.replace(b"c@pro", b"d@pro"), check=False)
    assert r.returncode == 1 and "unreadable line 5" in r.stderr
    assert mss.ctl("directory", "show", "d@pro.mss.test", check=False).returncode == 1


def test_first_ten_bad_lines_reported(mss):
    text = render([row(PRO)]) + "".join(f"PER|broken{i}\n" for i in range(15))
    r = imp(mss, text)
    assert "15 unreadable" in r.stdout
    assert r.stdout.count("unreadable line ") == 10
    assert "unreadable line 3: 2 fields, the header has 31" in r.stdout
    assert "... and 5 more unreadable lines" in r.stdout


def test_31_and_32_columns(mss):
    cols32 = COLS31 + ["Téléphone"]
    rows = [dict(row(PRO), **{"Téléphone": "0102030405"})]
    assert counts(imp(mss, render(rows, cols=cols32)).stdout) == (1, 1, 0, 0)
    # a trailing '|' on every line is tolerated; a real extra value is not
    text = render([row("x@pro.mss.test")]).replace("\n", "|\n")
    text = text.split("\n", 1)[0].rstrip("|") + "\n" + text.split("\n", 1)[1]
    r = imp(mss, text)
    assert counts(r.stdout) == (2, 1, 0, 1)  # PRO, a local account, struck off: kept inactive
    r = imp(mss, render([row("x@pro.mss.test")]) + "|".join(["PER", "y@pro.mss.test"] + [""] * 29) + "|extra\n")
    assert "1 unreadable" in r.stdout


def test_usage_and_missing_file(mss):
    assert mss.ctl("directory", "import", check=False).returncode == 2
    assert mss.ctl("directory", "frobnicate", check=False).returncode == 2
    r = mss.ctl("directory", "import", str(mss.root / "nope.csv"), check=False)
    assert r.returncode == 1 and "No such file" in r.stderr
    assert mss.ctl("directory", "show", "nobody@pro.mss.test", check=False).returncode == 1


def test_generated_file(mss):
    out = mss.root / "gen.csv"
    subprocess.run([sys.executable, str(SRC / "tests" / "gen_directory.py"), "-n", "3000", "--columns", "32",
                    "--crlf", str(out)], check=True)
    r = mss.ctl("directory", "import", "--strict", str(out))
    total, added, changed, removed = counts(r.stdout)
    assert "3000 lines, 3000 read, 0 unreadable" in r.stdout
    assert 2500 < total <= 3000 and added == total and changed == removed == 0
    subprocess.run([sys.executable, str(SRC / "tests" / "gen_directory.py"), "-n", "3000", "--seed", "2",
                    str(out)], check=True)
    total2, added2, changed2, removed2 = counts(mss.ctl("directory", "import", str(out)).stdout)
    assert removed2 == total and added2 == total2
