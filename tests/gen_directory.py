#!/usr/bin/env python3
"""Writes a synthetic "Extraction Correspondance MSSanté" file.

Realistic in shape (31 or 32 '|'-separated columns, one header line, UTF-8 with
accents, ~85% PER / ~15% ORG mailboxes, about 5% of addresses on several lines with
other structures, ~170 bytes a line like the national file) but every value is made up:
names are built from syllables, identifiers are random digits, domains end in .test.
No real personal data.

    gen_directory.py [-n LINES] [--columns 31|32] [--seed N] [--crlf] OUT
    gen_directory.py -n 536000 /tmp/national.csv     # national size, about 90 MB
"""
import argparse
import random
import sys

HEADER31 = [
    "Type de BAL", "Adresse BAL", "Type Identifiant PP", "Identifiant PP",
    "Identification nationale PP", "Type identifiant structure", "Identification Structure",
    "Service de rattachement", "Civilité d'exercice", "Nom d'exercice", "Prénom d'exercice",
    "Catégorie profession", "Libellé de catégorie profession", "Code Profession",
    "Libellé Profession", "Code savoir-faire", "Libellé savoir-faire", "Dématérialisation",
    "Raison Sociale structure BAL", "Complément destinataire",
    "Complément point géographique", "Numéro Voie", "Indice répétition voie",
    "Code type de voie", "Libellé type de voie", "Libellé Voie", "Mention distribution",
    "Bureau cedex", "Code postal", "Code commune", "Pays",
]
EXTRA32 = "Téléphone"

SYLLABLES = ["ba", "bé", "lo", "mar", "tin", "du", "rand", "le", "ro", "ux", "fa", "ver",
             "gé", "nis", "cha", "pel", "mo", "reau", "lan", "dri", "sé", "bas", "ti", "en",
             "fon", "tai", "ne", "gi", "rard", "mer", "cier", "bou", "cher", "ga", "ri", "el"]
PROFESSIONS = [("10", "Médecin", 0.55), ("21", "Pharmacien", 0.10), ("40", "Chirurgien-dentiste", 0.07),
               ("50", "Sage-femme", 0.04), ("60", "Infirmier", 0.16), ("70", "Masseur-kinésithérapeute", 0.08)]
SPECIALITIES = [("SM54", "Médecine générale (SM)"), ("SM26", "Qualifié en médecine générale (SM)"),
                ("SM04", "Cardiologie et maladies vasculaires (SM)"), ("SM53", "Spécialiste en médecine générale (SM)"),
                ("SM42", "Pédiatrie (SM)"), ("", "")]
CIVILITIES = ["DR", "M", "MME", "PR"]
SERVICES = ["", "", "", "Service de cardiologie", "Urgences", "Laboratoire de biologie", "Pharmacie à usage intérieur"]
STREET_TYPES = [("R", "Rue"), ("AV", "Avenue"), ("BD", "Boulevard"), ("PL", "Place"), ("CHE", "Chemin")]


def name(rng, parts):
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


def ascii_fold(s):
    table = str.maketrans("éèêàç", "eeeac")
    return s.translate(table)


class Gen:
    def __init__(self, seed, columns):
        self.rng = random.Random(seed)
        self.columns = columns
        self.domains = ["%s.mss.test" % ascii_fold(name(self.rng, 2)) for _ in range(900)]
        self.structures = [self.structure() for _ in range(40000)]
        self.counter = 0

    def structure(self):
        rng = self.rng
        kind = rng.random()
        if kind < 0.5:
            sid_type, sid = "1", "%02d%07d" % (rng.randint(1, 95), rng.randint(0, 9999999))
        else:
            sid_type, sid = "3", "%014d" % rng.randint(0, 10**14 - 1)
        label = rng.choice(["Cabinet", "CH", "Clinique", "Pharmacie", "Laboratoire", "MSP"])
        street = rng.choice(STREET_TYPES)
        dept = rng.randint(1, 95)
        return {
            "type": sid_type, "id": sid, "name": "%s %s" % (label, name(rng, 2).capitalize()),
            "num": str(rng.randint(1, 250)), "street_code": street[0], "street": street[1],
            "street_name": name(rng, 2).capitalize(),
            "postcode": "%02d%03d" % (dept, rng.randint(0, 999)),
            "commune": "%02d%03d" % (dept, rng.randint(1, 600)),
        }

    def person_line(self, address, person, st):
        rng = self.rng
        prof = person["prof"]
        spec = person["spec"]
        row = [
            "PER", address, person["id_type"], person["id"], person["id_type"] + person["id"],
            st["type"], st["id"], rng.choice(SERVICES), person["civ"], person["last"], person["first"],
            "C", "Civil", prof[0], prof[1], spec[0], spec[1], "True", st["name"],
            "", "", st["num"], "", st["street_code"], st["street"], st["street_name"], "", "",
            st["postcode"], st["commune"], "99100",
        ]
        return row

    def org_line(self, address, st, prof):
        row = [
            "ORG", address, "", "", "", st["type"], st["id"], self.rng.choice(SERVICES), "", "", "",
            "", "", prof[0], prof[1], "", "", "False", st["name"],
            "", "", st["num"], "", st["street_code"], st["street"], st["street_name"], "", "",
            st["postcode"], st["commune"], "99100",
        ]
        return row

    def pick_prof(self):
        r = self.rng.random()
        acc = 0.0
        for p in PROFESSIONS:
            acc += p[2]
            if r < acc:
                return p
        return PROFESSIONS[0]

    def entry(self):
        """One mailbox: its lines (usually one, sometimes several structures)."""
        rng = self.rng
        self.counter += 1
        domain = rng.choice(self.domains)
        nlines = 1 if rng.random() > 0.05 else rng.randint(2, 4)
        sts = rng.sample(self.structures, nlines)
        if rng.random() < 0.85:
            first = name(rng, 2).capitalize()
            last = name(rng, 3).upper()
            prof = self.pick_prof()
            person = {
                "id_type": rng.choice(["8", "8", "8", "0"]), "id": "%011d" % rng.randint(10**10, 10**11 - 1),
                "civ": rng.choice(CIVILITIES), "first": first, "last": last, "prof": prof,
                "spec": rng.choice(SPECIALITIES) if prof[0] == "10" else ("", ""),
            }
            address = "%s.%s%d@%s" % (ascii_fold(first.lower()), ascii_fold(last.lower()), self.counter, domain)
            return [self.person_line(address, person, st) for st in sts]
        prof = self.pick_prof()
        address = "%s%d@%s" % (ascii_fold(name(rng, 2).lower()), self.counter, domain)
        return [self.org_line(address, st, prof) for st in sts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--lines", type=int, default=1000, help="data lines to write")
    ap.add_argument("--columns", type=int, choices=(31, 32), default=31)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--crlf", action="store_true")
    ap.add_argument("out")
    a = ap.parse_args()
    gen = Gen(a.seed, a.columns)
    eol = "\r\n" if a.crlf else "\n"
    header = HEADER31 + ([EXTRA32] if a.columns == 32 else [])
    written = 0
    with open(a.out, "w", encoding="utf-8", newline="") as f:
        f.write("|".join(header) + eol)
        while written < a.lines:
            for row in gen.entry():
                if written >= a.lines:
                    break
                if a.columns == 32:
                    row = row + ["0%d" % gen.rng.randint(100000000, 999999999)]
                f.write("|".join(row) + eol)
                written += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
