"""Headless Chromium for the console: the browser test's driver, and the README's screenshot.

Uses Debian's `chromium` and `chromium-driver` (`make browser`) through selenium, with the
driver named explicitly so Selenium Manager never tries to download one.

    python -m devstack.browser screenshot --api http://127.0.0.1:8000 --token "$TOKEN" \
        --out docs/console-overview.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver")
WINDOW = "1400,1000"


def chromium_paths() -> tuple[str, str] | None:
    """(browser, chromedriver), or None when either cannot be found."""
    browser = next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = shutil.which("chromedriver") or next((p for p in DRIVERS if Path(p).exists()), None)
    return (browser, driver) if browser and driver else None


def headless_chromium(paths: tuple[str, str]) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={WINDOW}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=paths[1]), options=options)


def sign_in(driver: Any, api_url: str, token: str, view: str = "overview", timeout: float = 20) -> None:
    """Open the console at `view`, signed out first, and sign in with `token`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{api_url}/console#{view}")
    driver.execute_script("window.sessionStorage.clear()")
    driver.refresh()
    WebDriverWait(driver, timeout).until(until.visibility_of_element_located((By.ID, "token"))).send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, timeout).until(until.visibility_of_element_located((By.ID, "sign-out")))


def screenshot_overview(driver: Any, out: Path, timeout: float = 20) -> None:
    """The overview once its figures and charts are drawn, saved as PNG."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-states canvas"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = int(WINDOW.split(",")[0])
    driver.set_window_size(width, max(height, 600))
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out))
    driver.set_window_size(*map(int, WINDOW.split(",")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.browser", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    shot = commands.add_parser("screenshot", help="sign in and save the overview as PNG")
    shot.add_argument("--api", default="http://127.0.0.1:8000")
    shot.add_argument("--token", required=True)
    shot.add_argument("--out", type=Path, default=Path("docs/console-overview.png"))
    args = parser.parse_args(argv)
    paths = chromium_paths()
    if paths is None:
        print("Chromium or chromedriver not found: make browser", file=sys.stderr)
        return 2
    driver = headless_chromium(paths)
    try:
        sign_in(driver, args.api.rstrip("/"), args.token)
        screenshot_overview(driver, args.out)
    finally:
        driver.quit()
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
