"""The reliability suite's fixtures: every fixture of tests/integration/conftest.py
(pki, mss_factory, mss, smtpd, imapd and whatever it grows), re-exported so pytest
registers them here too, and its other public names. Helpers and clients live in relhelp.py (a unique module
name: several conftest.py files share the name "conftest" in one pytest session)."""
from relhelp import integration


def _is_fixture(obj):
    # pytest 7 marks fixture functions with an attribute; pytest 8 wraps them.
    return (hasattr(obj, "_pytestfixturefunction")
            or type(obj).__name__ == "FixtureFunctionDefinition")


globals().update({name: obj for name, obj in vars(integration).items()
                  if not name.startswith("_") and _is_fixture(obj)})

# When one pytest run collects tests/integration and tests/reliability together, the
# module named "conftest" in sys.modules is whichever was loaded last, and the
# integration tests' "from conftest import PATIENT, ..." may land here: offer them
# the same names.
globals().update({name: obj for name, obj in vars(integration).items()
                  if not name.startswith("_") and name not in globals()})
