"""Drive the ``clipmat serve`` page in headless Chromium through ChromeDriver (selenium), as a person would.

Used by tests/test_serve.py and tools/serve_screenshot.py. Offline: the browser is started
with its background networking off (this machine refuses outside connections).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)


def find(names) -> str | None:
    for name in names:
        if path := shutil.which(name):
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list[str], port: int, timeout: float = 120, env: dict | None = None) -> subprocess.Popen:
    """``clipmat serve ARGS --port PORT`` as a user runs it; returns once /api/info answers."""
    proc = subprocess.Popen([sys.executable, "-m", "clipmat.cli", "serve", *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    wait_for(f"http://127.0.0.1:{port}/api/info", proc, timeout)
    return proc


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def chrome(profile: Path, width: int = 1400, height: int = 1000):
    """A headless Chromium under ChromeDriver, with its own empty profile in the folder ``profile``
    (the caller's to remove)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = find(BROWSERS)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--window-size={width},{height}", "--hide-scrollbars",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(find(DRIVERS)))


def submit(driver, url: str, image: Path, phrase: str, timeout: float = 120) -> dict:
    """Load the page, upload ``image``, type ``phrase``, press Extract and wait for the three results.
    Returns {"alpha": src, "cutout": src, "composite": src, "status": text, "downloads": [names]}."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(url)
    upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#image input[type=file]")))
    upload.send_keys(str(Path(image).resolve()))
    wait.until(lambda d: d.execute_script("const i = document.querySelector('#image img'); "
                                          "return i && i.complete && i.naturalWidth > 0"))
    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#phrase textarea")))
    box.clear()
    box.send_keys(phrase)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#extract"))).click()
    loaded = ("return ['alpha', 'cutout', 'composite'].every(k => { const i = document.querySelector('#' + k + ' img');"
              " return i && i.complete && i.naturalWidth > 0; })")
    wait.until(lambda d: d.execute_script(loaded))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#status").text.strip())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#downloads a"))
    out = {k: driver.find_element(By.CSS_SELECTOR, f"#{k} img").get_attribute("src")
           for k in ("alpha", "cutout", "composite")}
    out["status"] = driver.find_element(By.CSS_SELECTOR, "#status").text
    out["downloads"] = [a.get_attribute("download") or Path(a.get_attribute("href")).name
                        for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a")]
    return out


def fetch(src: str) -> bytes:
    with urllib.request.urlopen(src, timeout=30) as r:
        return r.read()
