"""The reliability suite's fixtures: those of tests/integration/conftest.py (pki,
mss_factory, mss, smtpd, imapd), re-exported so pytest registers them here too.
Helpers and clients live in relhelp.py (a unique module name: several conftest.py
files share the name "conftest" in one pytest session)."""
from relhelp import integration

pki = integration.pki
mss_factory = integration.mss_factory
mss = integration.mss
smtpd = integration.smtpd
imapd = integration.imapd
