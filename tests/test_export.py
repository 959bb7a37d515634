"""Exporting the history of submissions with their runs and costs, as JSON and CSV."""
from __future__ import annotations

import csv
import io
import shutil

from conftest import SAMPLE_MEDIA
from helpers import import_folder, wait_for_task


def analysed_images(client, library_root) -> dict:
    folder = library_root / "photos"
    folder.mkdir()
    shutil.copy2(SAMPLE_MEDIA / "kiwi.jpg", folder / "kiwi.jpg")
    shutil.copy2(SAMPLE_MEDIA / "Bubbles.jpg", folder / "=HYPERLINK(1).jpg")  # a name a spreadsheet would run
    import_folder(client, folder, generate_proxies=False)
    batch = client.post("/api/batch/nova", json={"filter": {"media_type": "image"}, "analysis_types": ["description"],
                                                 "mode": "on_demand"}).get_json()
    assert wait_for_task(client, batch["on_demand"]["task_id"], timeout=120)["status"] == "SUCCEEDED"
    return batch


def test_the_json_export_holds_each_submission_with_its_runs_and_costs(client, library_root):
    batch = analysed_images(client, library_root)
    response = client.get("/api/batch/export")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    data = response.get_json()
    [exported] = data["submissions"]
    assert exported["id"] == batch["id"] and exported["mode"] == "on_demand"
    assert sorted(r["file_name"] for r in exported["runs"]) == ["=HYPERLINK(1).jpg", "kiwi.jpg"]
    assert all(r["status"] == "COMPLETED" and r["tokens_input"] > 0 for r in exported["runs"])
    assert data["totals"] == {"submissions": 1, "runs": 2, "estimated_cost_usd": exported["estimated_cost_usd"],
                              "actual_cost_usd": exported["actual_cost_usd"]}


def test_the_csv_export_has_a_line_per_run_and_no_cell_a_spreadsheet_would_run(client, library_root):
    batch = analysed_images(client, library_root)
    response = client.get("/api/batch/export?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2 and {r["batch_id"] for r in rows} == {str(batch["id"])}
    assert sorted(r["file_name"] for r in rows) == ["'=HYPERLINK(1).jpg", "kiwi.jpg"]
    assert all(not value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())


def test_the_export_covers_only_the_days_asked_and_refuses_bad_ranges(client, library_root):
    analysed_images(client, library_root)
    empty = client.get("/api/batch/export?from=2020-01-01&to=2020-01-31").get_json()
    assert empty["submissions"] == [] and empty["totals"]["runs"] == 0
    for query in ("format=xml", "from=2020-01-01&to=2024-01-01", "from=yesterday"):
        response = client.get(f"/api/batch/export?{query}")
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter", query
