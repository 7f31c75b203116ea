"""The console's files: served from the package with their content types, nothing else."""

from __future__ import annotations

import re

import pytest
from chalice.test import Client

from chalicelib.console import ASSETS, HERE


@pytest.fixture(scope="module")
def client() -> Client:
    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


def test_the_page_is_served_as_html_without_a_token_and_with_a_strict_policy(client: Client) -> None:
    response = client.http.get("/console")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<title>Data Engine" in response.body.decode()
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_with_a_trailing_slash_sends_the_browser_to_the_page_without_it(client: Client) -> None:
    response = client.http.get("/console/")
    assert (response.status_code, response.headers["Location"]) == (302, "../console")


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_every_listed_file_is_served_with_its_own_content_type(client: Client, name: str) -> None:
    response = client.http.get(f"/console/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ASSETS[name][1]
    assert response.body.decode() == (HERE / ASSETS[name][0]).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["README.md", "__init__.py", "vendor", "..", "LICENSE.alpine", "index.htm"])
def test_anything_else_is_a_404(client: Client, name: str) -> None:
    response = client.http.get(f"/console/{name}")
    assert response.status_code == 404


def test_the_page_links_only_its_own_files_by_relative_urls() -> None:
    page = (HERE / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'(?<![:\w])(?:src|href)="([^"#]+)"', page)  # bound (:href) values are data
    links.remove("data:,")  # the empty favicon: no request for /favicon.ico
    assert links and all(link.startswith("console/") and link.removeprefix("console/") in ASSETS for link in links)
    assert "<script>" not in page and " style=" not in page  # nothing inline: the policy forbids it


def test_the_vendored_libraries_are_the_pinned_versions_with_their_licences() -> None:
    assert "uPlot (v1.6.32)" in (HERE / "vendor/uplot-1.6.32.min.js").read_text(encoding="utf-8")[:80]
    for licence in ("LICENSE.alpine", "LICENSE.uplot"):
        assert "MIT License" in (HERE / "vendor" / licence).read_text(encoding="utf-8")
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    assert "alpinejs@3.17.5" in readme and "uplot@1.6.32" in readme
