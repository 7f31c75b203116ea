"""The operations console in headless Chromium against the running local stack.

Needs Debian's `chromium` and `chromium-driver` (`make browser` installs them) and `selenium`;
skipped, saying why, where they cannot be found. The overview's screenshot goes to a temporary
directory, or to `CONSOLE_SCREENSHOT` (a path under the repository) when set; the README's
picture is taken after `make run` with `python -m devstack.browser screenshot`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.browser import chromium_paths, headless_chromium, screenshot_overview
from devstack.browser import sign_in as signed_in
from tests.e2e.conftest import ROOT, RunningStack

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements-dev.txt)")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as until  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SAMPLE = ROOT / "samples" / "ticketshop" / "export.csv"
EMAIL = "anna.schmidt@example.de"  # the export's first buyer (made up), a valid record
WAIT = 20
# how API Gateway and `chalice local` answer a path no route serves


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    paths = chromium_paths()
    if paths is None:
        pytest.skip("Chromium or chromedriver not found: `make browser` installs Debian's chromium and chromium-driver")
    driver = headless_chromium(paths)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def ticketshop_file(devstack: RunningStack, token: str) -> str:
    """The ticketshop export sent through `POST /ingest/ticketshop`, settled; its file id."""
    response = requests.post(
        f"{devstack.api_url}/ingest/ticketshop",
        data=SAMPLE.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    devstack.wait_until_idle()
    return str(response.json()["file_id"])


def _wait(driver: Any, condition: Any, timeout: float = WAIT) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def sign_in(driver: Any, stack: RunningStack, token: str, view: str = "overview") -> None:
    signed_in(driver, stack.api_url, token, view, timeout=WAIT)


def _api(stack: RunningStack, token: str, path: str, **params: str) -> requests.Response:
    return requests.get(
        f"{stack.api_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _csp_violations(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_it_signs_in_and_the_overview_shows_the_counts_get_stats_returns(
    browser: Any, devstack: RunningStack, token: str, ticketshop_file: str, tmp_path: Path
) -> None:
    # GIVEN the ticketshop export has settled
    # WHEN an operator signs in with the token
    sign_in(browser, devstack, token)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#state-totals .tile"))
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-states canvas"))
    # THEN every state's figure is what GET /stats counts over the same window
    shown = {
        tile.get_attribute("data-state"): int(tile.get_attribute("data-count"))
        for tile in browser.find_elements(By.CSS_SELECTOR, "#state-totals .tile")
    }
    stats = _api(devstack, token, "/stats").json()
    counted: Counter[str] = Counter()
    for row in stats["counts"]:
        counted.update(row["states"])
    assert shown == dict(counted)
    assert shown["RECEIVED"] >= 20 and shown.get("INVALID", 0) >= 1
    assert browser.find_elements(By.CSS_SELECTOR, "#source-totals tr[data-source='ticketshop']")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#transitions tbody tr")) == len(stats["transitions"])
    assert "de_" not in browser.execute_script("return document.body.innerText")  # the token is never shown
    assert _csp_violations(browser) == []
    screenshot_overview(browser, ROOT / os.environ.get("CONSOLE_SCREENSHOT", str(tmp_path / "console-overview.png")))


def test_it_opens_a_file_with_rejections_and_reprocesses_it(
    browser: Any, devstack: RunningStack, token: str, ticketshop_file: str
) -> None:
    # GIVEN the API's view of the file, which has rejected records
    expected = _api(devstack, token, f"/files/{ticketshop_file}").json()
    assert expected["rejections"], "the sample export is expected to have rejected records"
    sign_in(browser, devstack, token, view="search")
    # WHEN the operator searches its id and opens the file
    search = _wait(browser, until.visibility_of_element_located((By.ID, "search-input")))
    search.send_keys(ticketshop_file)
    browser.find_element(By.ID, "search-go").click()
    _wait(browser, until.element_to_be_clickable((By.CSS_SELECTOR, ".hit[data-kind='file'] a"))).click()
    _wait(browser, until.text_to_be_present_in_element((By.ID, "file-title"), ticketshop_file))
    # THEN the page lists the rejections the API groups, with their record counts
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#file-rejections tbody tr"))
    rows = {
        (row.get_attribute("data-field"), row.get_attribute("data-code"), row.find_elements(By.TAG_NAME, "td")[2].text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#file-rejections tbody tr")
    }
    assert rows == {(r["field"], r["code"], f"{r['records']:,}") for r in expected["rejections"]}
    assert browser.find_element(By.ID, "file-documents").text == f"{expected['documents']:,}"
    # WHEN the operator presses Reprocess, THEN the page shows the API's answer
    browser.find_element(By.ID, "reprocess").click()
    notice = _wait(browser, until.visibility_of_element_located((By.ID, "notice")))
    _wait(browser, lambda d: "HTTP 20" in notice.text)
    version = expected["split"]["mapping_version"]
    assert ("Reprocessing" in notice.text and "HTTP 202" in notice.text) or (
        f"Left as it is: the file was read with the current mapping version {version} (HTTP 200)" in notice.text
    ), notice.text
    devstack.wait_until_idle()
    assert _api(devstack, token, f"/files/{ticketshop_file}").json()["documents"] == expected["documents"]


def _role_token(stack: RunningStack, name: str, role: str) -> str:
    from chalicelib.auth.tokens import TokenStore

    return TokenStore("data-engine-local-config", stack.client("dynamodb")).create(name, role, 1).token


def test_it_finds_a_subject_by_email_with_the_privacy_role_and_not_with_viewer(
    browser: Any, devstack: RunningStack, token: str, ticketshop_file: str
) -> None:
    privacy, viewer = _role_token(devstack, "e2e-privacy", "privacy"), _role_token(devstack, "e2e-viewer", "viewer")
    expected = _api(devstack, privacy, "/subjects", email=EMAIL).json()
    assert expected["documents"]

    def search_email() -> None:
        field = _wait(browser, until.visibility_of_element_located((By.ID, "search-input")))
        field.send_keys(EMAIL)
        browser.find_element(By.ID, "search-go").click()

    # GIVEN a privacy token: the subject's documents are listed
    sign_in(browser, devstack, privacy, view="search")
    search_email()
    try:
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".subject-document"))
    except TimeoutException:
        pytest.fail("no documents shown: " + browser.find_element(By.ID, "search-message").text)
    shown = {a.text for a in browser.find_elements(By.CSS_SELECTOR, ".subject-document td:first-child a")}
    assert shown == {d["document_id"] for d in expected["documents"]}
    assert EMAIL not in browser.execute_script("return document.body.innerText + JSON.stringify(sessionStorage)")
    # GIVEN a viewer token: the page says the role cannot do this
    sign_in(browser, devstack, viewer, view="search")
    search_email()
    message = _wait(browser, until.visibility_of_element_located((By.ID, "search-message")))
    _wait(browser, lambda d: "your role cannot do this" in message.text)
    assert not browser.find_elements(By.CSS_SELECTOR, ".subject-document")


def test_an_action_the_role_does_not_allow_says_so(browser: Any, devstack: RunningStack) -> None:
    # GIVEN an operator token (changing the SAP throttle needs admin)
    operator = _role_token(devstack, "e2e-console-operator", "operator")
    sign_in(browser, devstack, operator, view="sap")
    # WHEN the operator presses "Change the throttle"
    _wait(browser, until.element_to_be_clickable((By.CSS_SELECTOR, "#sap form button"))).click()
    # THEN the page shows the API's 403 as the role's limit, and nothing changed
    notice = _wait(browser, until.visibility_of_element_located((By.ID, "notice")))
    _wait(browser, lambda d: "your role cannot do this" in notice.text)
    assert "denied" in (notice.get_attribute("class") or "")
