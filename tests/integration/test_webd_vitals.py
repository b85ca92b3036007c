"""Vital signs on mss-webd, as a patient records them: one message per measurement in
the folder Constantes (read back over the patient's real IMAP session, with its FHIR
Observation), the chart drawn as SVG by the server, the history entry; out-of-range and
malformed values refused with the reason in French, nothing stored."""
import calendar
import html
import json
import re

import pytest

from conftest import PATIENT, PATIENT2
from web_helpers import folder_messages, logged_in

SYSTOLIC = "8480-6"
TEMPERATURE = "8310-5"


@pytest.fixture
def web(mss):
    mss.start("imapd")
    mss.start("webd")
    return mss


def constantes(m, user=PATIENT):
    return folder_messages(m, "Constantes", user)


def record(w, kind, value, when=""):
    csrf = w.get("/constantes").csrf()
    return w.post("/constantes", {"csrf": csrf, "kind": kind, "value": value, "when": when})


def test_record_read_back_chart_history(web):
    w = logged_in(web)
    r = record(w, SYSTOLIC, "120", "2026-12-01T08:30")
    assert r.status == 303 and r.headers["Location"] == "/constantes?fait=ajoute"
    assert record(w, SYSTOLIC, "135", "2026-12-03T08:30").status == 303
    assert record(w, TEMPERATURE, "37,5").status == 303
    msgs = constantes(web)
    assert len(msgs) == 3
    first = msgs[0]
    assert str(first["Subject"]) == "Pression artérielle systolique : 120 mmHg"
    code, value, unit, when = str(first["X-MSS-Vital"]).split()
    assert (code, value, unit) == (SYSTOLIC, "120.00", "mm[Hg]")
    assert int(when) == calendar.timegm((2026, 12, 1, 7, 30, 0))  # 08:30 in Paris (UTC+1)
    fhir = next(p for p in first.iter_attachments() if p.get_content_type() == "application/fhir+json")
    obs = json.loads(fhir.get_payload(decode=True))
    assert obs["resourceType"] == "Observation"
    assert obs["code"]["coding"][0] == {"system": "http://loinc.org", "code": SYSTOLIC,
                                        "display": "Pression artérielle systolique"}
    assert obs["valueQuantity"]["value"] == 120 and obs["valueQuantity"]["code"] == "mm[Hg]"
    assert obs["effectiveDateTime"] == "2026-12-01T07:30:00Z"
    assert "Saisie par le patient." in first.get_body(("plain",)).get_content()
    temp = msgs[2]
    assert str(temp["X-MSS-Vital"]).split()[1] == "37.50"

    page = w.get("/constantes")
    assert page.status == 200
    text = html.unescape(page.text)
    assert "La mesure est enregistrée." not in text
    svg = re.findall(r"<svg class=\"chart\".*?</svg>", page.text, re.S)
    assert len(svg) == 2
    assert "<polyline" in svg[0] and svg[0].count("<circle") == 2
    assert "Pression artérielle systolique : 2 mesure(s), entre 120 et 135 mmHg" in html.unescape(svg[0])
    assert "37,5 °C" in text and "le 01/12/2026 à 08:30" in text
    assert "script" not in page.text.lower()
    assert "Constante enregistrée" in html.unescape(w.get("/historique").text)
    # nothing health-related in the daemon's log
    # (as a number of its own: a pid, a port or a session id may hold the digits 120)
    assert not re.search(r"(?<![0-9A-Za-z.])120(?![0-9A-Za-z.])", web.log("webd").replace("127.0.0.1", ""))
    # another patient sees none of it
    other = logged_in(web, PATIENT2)
    assert "<svg" not in other.get("/constantes").text


@pytest.mark.parametrize("kind,value,when,message", [
    (SYSTOLIC, "400", "", "Pression artérielle systolique : la valeur doit être comprise entre 50 et 300 mmHg."),
    (SYSTOLIC, "49", "", "entre 50 et 300 mmHg"),
    (SYSTOLIC, "abc", "", "La valeur doit être un nombre"),
    (SYSTOLIC, "", "", "La valeur doit être un nombre"),
    (SYSTOLIC, "-5", "", "La valeur doit être un nombre"),
    (SYSTOLIC, "120,5", "", "0 chiffre(s) après la virgule au plus"),
    (TEMPERATURE, "37,55", "", "1 chiffre(s) après la virgule au plus"),
    (TEMPERATURE, "50", "", "entre 30,0 et 45,0 °C"),
    ("1234-5", "120", "", "Choisissez une mesure dans la liste."),
    (SYSTOLIC, "120", "2026-02-31T10:00", "La date de la mesure n'est pas valide."),
    (SYSTOLIC, "120", "demain", "La date de la mesure n'est pas valide."),
    (SYSTOLIC, "120", "2099-01-01T10:00", "La date de la mesure est dans le futur."),
])
def test_bad_values_refused_in_french(web, kind, value, when, message):
    w = logged_in(web)
    r = record(w, kind, value, when)
    assert r.status == 400
    text = html.unescape(r.text)
    assert message in text and "Rien n'a été enregistré." in text
    assert 'lang="fr"' in r.text and 'role="alert"' in r.text
    assert constantes(web) == []


def test_csrf_required(web):
    w = logged_in(web)
    r = w.post("/constantes", {"kind": SYSTOLIC, "value": "120"})
    assert r.status == 403
    assert constantes(web) == []
