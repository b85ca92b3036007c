"""Test helper: builds real IHE XDM archives (IHE_XDM.ZIP) with XDS metadata.

The archive follows IHE ITI TF-1 16 / ITI-32 (XDM): README.TXT, INDEX.HTM,
IHE_XDM/SUBSET01/METADATA.XML (an ebRIM 3.0 SubmitObjectsRequest with one submission
set) and the documents beside it, each entry naming its file in the URI slot, with
SHA-1 hash and size. Used by the vault's integration tests and to make the unit
tests' and fuzzer's seed files:

    python3 tests/xdm.py OUT.zip          # one laboratory report for the demo patient
"""
import hashlib
import io
import sys
import uuid
import zipfile
from xml.sax.saxutils import quoteattr, escape

INS_DEMO = "146026322000196"
OID_NIR_TEST = "1.2.250.1.213.1.4.10"
LOINC = "2.16.840.1.113883.6.1"
CONF_SYSTEM = "1.2.250.1.213.1.1.4.13"

XDS_DOC = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
XDS_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
XDS_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
XDS_CONF = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
XDS_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
XDS_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
XDS_PATIENT = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
XDS_UNIQUE = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_TYPE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_PATIENT = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_UNIQUE = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
SS_SOURCE = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"


def cda_document(ins=INS_DEMO, oid=OID_NIR_TEST, code="11502-2", title="CR de biologie"):
    """A small but well-formed CDA R2 document."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <id root="1.2.250.1.999.1" extension="{uuid.uuid4()}"/>
  <code code="{code}" codeSystem="{LOINC}"/>
  <title>{escape(title)}</title>
  <effectiveTime value="20261129093000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <recordTarget><patientRole><id root="{oid}" extension="{ins}"/></patientRole></recordTarget>
  <component><nonXMLBody><text>Résultats normaux.</text></nonXMLBody></component>
</ClinicalDocument>
""".encode()


def _slot(name, *values):
    vals = "".join(f"<rim:Value>{escape(v)}</rim:Value>" for v in values)
    return f'<rim:Slot name="{name}"><rim:ValueList>{vals}</rim:ValueList></rim:Slot>'


def _classification(scheme, obj, node, label=None, coding=None, slots=""):
    inner = slots
    if coding:
        inner += _slot("codingScheme", coding)
    if label is not None:
        inner += f"<rim:Name><rim:LocalizedString value={quoteattr(label)}/></rim:Name>"
    return (f'<rim:Classification id="{uuid.uuid4().urn}" classificationScheme="{scheme}" '
            f'classifiedObject="{obj}" nodeRepresentation={quoteattr(node)}>{inner}</rim:Classification>')


def _entry(i, d, ins, oid):
    obj = d.get("entry_uuid", f"Document{i:02d}")
    data = d["data"]
    author = d.get("author", ("801234567890", "MARTIN", "Jean"))
    xcn = f"{author[0]}^{author[1]}^{author[2]}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    parts = [
        f'<rim:ExtrinsicObject id="{obj}" mimeType={quoteattr(d.get("mime", "text/xml"))} '
        f'objectType="{XDS_DOC}">',
        _slot("creationTime", d.get("creation", "20261129083000")),
        _slot("hash", hashlib.sha1(data).hexdigest() if not d.get("bad_hash") else "0" * 40),
        _slot("languageCode", "fr-FR"),
        _slot("size", str(len(data))),
        _slot("sourcePatientId", f"{ins}^^^&{oid}&ISO"),
        _slot("URI", d["name"]),
        f'<rim:Name><rim:LocalizedString value={quoteattr(d.get("title", "Document"))}/></rim:Name>',
        _classification(XDS_AUTHOR, obj, "", slots=_slot("authorPerson", xcn) +
                        _slot("authorInstitution", "Laboratoire Test^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^11234567800011")),
        _classification(XDS_CLASS, obj, d.get("class_code", "11"), "Compte rendu", "1.2.250.1.213.1.1.4.1"),
    ]
    for c in d.get("confidentiality", ["N"]):
        if isinstance(c, tuple):  # (code, coding scheme) as given
            c, system = c
        else:
            system = CONF_SYSTEM if c in ("MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX") \
                else "2.16.840.1.113883.5.25"
        parts.append(_classification(XDS_CONF, obj, c, c, system))
    parts += [
        _classification(XDS_FORMAT, obj, "urn:ihe:lab:xd-lab:2008", "CR-BIO", "1.3.6.1.4.1.19376.1.2.3"),
        _classification(XDS_TYPE, obj, d.get("type_code", "11502-2"), d.get("type_label", "CR d'examens biologiques"),
                        d.get("type_scheme", LOINC)),
        f'<rim:ExternalIdentifier id="{uuid.uuid4().urn}" registryObject="{obj}" identificationScheme="{XDS_PATIENT}" '
        f'value={quoteattr(d.get("ins", ins) + "^^^&" + d.get("oid", oid) + "&ISO")}>'
        f'<rim:Name><rim:LocalizedString value="XDSDocumentEntry.patientId"/></rim:Name></rim:ExternalIdentifier>',
        f'<rim:ExternalIdentifier id="{uuid.uuid4().urn}" registryObject="{obj}" identificationScheme="{XDS_UNIQUE}" '
        f'value={quoteattr(d.get("unique_id", "1.2.250.1.999.1." + str(uuid.uuid4().int % 10**12)))}>'
        f'<rim:Name><rim:LocalizedString value="XDSDocumentEntry.uniqueId"/></rim:Name></rim:ExternalIdentifier>',
        "</rim:ExtrinsicObject>",
    ]
    if d.get("replaces"):
        # XDS document replacement (ITI TF-3 4.2.2): RPLC from this entry to the old one
        parts.append(f'<rim:Association id="{uuid.uuid4().urn}" '
                     f'associationType="urn:ihe:iti:2007:AssociationType:RPLC" '
                     f'sourceObject="{obj}" targetObject={quoteattr(d["replaces"])}/>')
    return "".join(parts)


def metadata_xml(documents, ins=INS_DEMO, oid=OID_NIR_TEST):
    entries = "".join(_entry(i + 1, d, ins, oid) for i, d in enumerate(documents))
    ss = (f'<rim:RegistryPackage id="SubmissionSet01" objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage">'
          + _slot("submissionTime", "20261129083500")
          + _classification(SS_AUTHOR, "SubmissionSet01", "", slots=_slot("authorPerson", "801234567890^MARTIN^Jean"))
          + f'<rim:ExternalIdentifier id="{uuid.uuid4().urn}" registryObject="SubmissionSet01" '
            f'identificationScheme="{SS_PATIENT}" value="{ins}^^^&amp;{oid}&amp;ISO"/>'
          + f'<rim:ExternalIdentifier id="{uuid.uuid4().urn}" registryObject="SubmissionSet01" '
            f'identificationScheme="{SS_UNIQUE}" value="1.2.250.1.999.2.{uuid.uuid4().int % 10**12}"/>'
          + f'<rim:ExternalIdentifier id="{uuid.uuid4().urn}" registryObject="SubmissionSet01" '
            f'identificationScheme="{SS_SOURCE}" value="1.2.250.1.999"/>'
          + "</rim:RegistryPackage>"
          + f'<rim:Classification id="{uuid.uuid4().urn}" classifiedObject="SubmissionSet01" classificationNode="{SS_TYPE}"/>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
            'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">'
            f"<rim:RegistryObjectList>{entries}{ss}</rim:RegistryObjectList></lcm:SubmitObjectsRequest>\n").encode()


def build_xdm(documents=None, ins=INS_DEMO, oid=OID_NIR_TEST, metadata=None, with_metadata=True):
    """Returns the bytes of an IHE_XDM.ZIP. documents: list of dicts with name, data and
    optionally type_code, type_label, class_code, title, mime, confidentiality (list),
    author (id, family, given), ins/oid (per entry), unique_id, bad_hash, creation,
    entry_uuid (the ExtrinsicObject id, e.g. "urn:uuid:..."), replaces (the entryUUID of
    the document this one replaces: an RPLC association).
    metadata: raw METADATA.XML bytes to use instead of the generated one."""
    if documents is None:
        documents = [{"name": "DOC0001.XML", "data": cda_document(ins, oid)}]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.TXT", "IHE XDM archive built by the MSS test suite.\r\n")
        z.writestr("INDEX.HTM", "<html><body><a href=\"IHE_XDM/SUBSET01/METADATA.XML\">metadata</a></body></html>")
        if with_metadata:
            z.writestr("IHE_XDM/SUBSET01/METADATA.XML", metadata if metadata is not None else metadata_xml(documents, ins, oid))
        for d in documents:
            z.writestr("IHE_XDM/SUBSET01/" + d["name"], d["data"])
    return out.getvalue()


def zip_bomb(size=200 * 1024 * 1024):
    """A small archive whose one entry inflates to size bytes of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("IHE_XDM/SUBSET01/DOC0001.XML", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", metadata_xml([{"name": "DOC0001.XML", "data": b""}]))
    return out.getvalue()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: xdm.py OUT.zip")
    with open(sys.argv[1], "wb") as f:
        f.write(build_xdm())
