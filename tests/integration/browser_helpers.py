"""Helpers (no tests) for driving a real browser against mss-webd: headless Debian
chromium through chromedriver and python3-selenium, a fresh profile per test, no
network beyond loopback. The test CA is not in chromium's certificate store, so the
session accepts the test server's certificate (acceptInsecureCerts); the connection is
HTTPS all the same, so Secure and __Host- cookies behave as in production."""
import shutil
import tempfile
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
except ImportError:  # pragma: no cover - install-deps installs it
    webdriver = None

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def browser():
    """A new headless chromium; the caller quits it (and removes its profile)."""
    if webdriver is None or CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium, chromium-driver and python3-selenium are needed (scripts/install-deps)")
    profile = tempfile.mkdtemp(prefix="mss-chromium-")
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-dev-shm-usage", "--window-size=1100,900", f"--user-data-dir={profile}"):
        o.add_argument(a)
    o.set_capability("acceptInsecureCerts", True)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(60)
    d.mss_profile = profile
    return d


def quit_browser(d):
    try:
        d.quit()
    finally:
        shutil.rmtree(d.mss_profile, ignore_errors=True)


def login(d, m, address, password):
    d.get(f"https://127.0.0.1:{m.port('web')}/login")
    d.find_element(By.ID, "address").send_keys(address)
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()


def open_page(d, m, address, password, link):
    """Logs in and follows the navigation link to the page of that name."""
    login(d, m, address, password)
    wait_title(d, "Mes documents")
    d.find_element(By.LINK_TEXT, link).click()
    wait_title(d, link)


def screenshot(d, name):
    """A PNG of the page into build/screenshots (doc/ keeps a few, see doc/patient-guide.md)."""
    import os
    out = Path(os.environ.get("MSS_BUILD_DIR") or ".") / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(out / name))
    return out / name


def wait_title(d, prefix, timeout=30):
    """Waits for the page a click or submit loads (its title starts with prefix)."""
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(d, timeout).until(lambda drv: drv.title.startswith(prefix))


def wait_status(d, text, timeout=30):
    """Waits until the page's status line ([role=status]) holds text, and returns that
    line. The page a click loads can have the same title and a status line of its own as
    the one shown (grant, then block, on "Mes professionnels"): an element found before
    the new page replaces it goes stale, so look again until the text is there."""
    return wait_notice(d, "status", text, timeout)


def wait_alert(d, text, timeout=30):
    """Waits until the page's error line ([role=alert]) holds text, and returns that line.
    A refused form comes back on a page with the same title as the one that sent it (a
    wrong password: "Connexion" again), so wait_title returns at once, before the answer
    replaced the page: wait for the error itself."""
    return wait_notice(d, "alert", text, timeout)


def wait_notice(d, role, text, timeout):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    def holding(drv):
        try:
            return next((e.text for e in drv.find_elements(By.CSS_SELECTOR, f"[role={role}]") if text in e.text),
                        False)
        except StaleElementReferenceException:
            return False
    return WebDriverWait(d, timeout).until(holding)


def wait_element(d, css, timeout=30):
    """Waits for an element of the page a click loads, and returns it (one the page shown
    has not: for an error or status line, wait_alert or wait_status)."""
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(d, timeout).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, css))[0]
