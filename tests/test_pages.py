"""HTML pages: every page renders with the navigation and loads only vendored assets; the usage report API."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import import_folder, wait_for_task

PAGES = ["/files", "/files/1", "/batches", "/batches/1", "/search", "/search?q=%3Cscript%3E", "/reports"]
STATIC = Path(__file__).resolve().parents[1] / "app" / "static"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_the_navigation(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for href, label in (("/files", "Library"), ("/batches", "Batches"), ("/search", "Search"), ("/reports", "Reports")):
        assert f'href="{href}"' in html and f">{label}</a>" in html
    assert 'aria-current="page"' in html
    assert "<script>" not in html.lower()  # no inline scripts: data comes from the JSON API
    assert "&lt;script" not in html  # the query string is never echoed into the page


def test_root_redirects_to_the_library(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/files")


@pytest.mark.parametrize("path", PAGES)
def test_pages_reference_only_local_assets_that_exist(client, path):
    html = client.get(path).get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert assets, "expected the vendored Bootstrap at least"
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "pages must work without internet"
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_javascript_modules_never_assign_inner_html():
    for script in (STATIC / "js").glob("*.js"):
        text = script.read_text(encoding="utf-8")
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "outerHTML" not in text, script.name
        assert "document.write" not in text, script.name


def test_vendored_libraries_are_pinned_and_documented():
    versions = (STATIC / "vendor" / "VERSIONS.md").read_text(encoding="utf-8")
    for name in ("bootstrap.min.css", "bootstrap.bundle.min.js", "chart.umd.min.js"):
        assert (STATIC / "vendor" / name).stat().st_size > 10_000
        assert name in versions
    assert re.search(r"Bootstrap .*\| 5\.\d+\.\d+ \|", versions)
    assert "scripts/vendor_refresh.sh" in versions


def test_usage_report_counts_runs_tokens_and_tasks(client, sample_media):
    empty = client.get("/api/usage?from=2020-01-01&to=2020-01-03").get_json()
    assert [d["day"] for d in empty["per_day"]] == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert empty["totals"]["runs"] == 0 and empty["totals"]["success_rate"] is None

    import_folder(client, sample_media, generate_proxies=False)
    image = client.get("/api/files", query_string={"q": "kiwi"}).get_json()["items"][0]
    response = client.post("/api/nova/analyze", json={"file_ids": [image["id"]]})
    wait_for_task(client, response.get_json()["task_id"], timeout=120)
    report = client.get("/api/usage").get_json()
    assert len(report["per_day"]) == 7
    assert report["totals"]["runs"] == 1 and report["totals"]["completed"] == 1
    assert report["totals"]["files_analysed"] == 1 and report["totals"]["success_rate"] == 1.0
    assert report["totals"]["tokens_input"] > 0
    assert sum(d["tokens_input"] for d in report["per_day"]) == report["totals"]["tokens_input"]
    assert [m["model"] for m in report["per_model"]] == ["local-analyzer"]
    assert {t["kind"] for t in report["tasks"]["by_kind"]} >= {"import", "analyze"}


@pytest.mark.parametrize("query", ["from=2020-13-01", "from=2021-01-02&to=2021-01-01", "from=2000-01-01&to=2020-01-01"])
def test_bad_usage_ranges_are_400(client, query):
    response = client.get(f"/api/usage?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"
