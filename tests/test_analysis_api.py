"""Models, estimates and on-demand analysis through the API, answered by the local engine."""
from __future__ import annotations

import pytest

from helpers import import_folder, wait_for_task


@pytest.fixture
def library(client, sample_media):
    job = import_folder(client, sample_media, generate_proxies=False)
    assert job["imported"] == 7
    return {f["name"]: f for f in client.get("/api/files?per_page=100").get_json()["items"]}


def test_models_list_every_catalog_entry_with_availability(client):
    body = client.get("/api/nova/models").get_json()
    models = {m["key"]: m for m in body["models"]}
    assert {"lite", "lite-v1", "pro", "premier", "local-analyzer"} <= set(models)
    assert body["default"] == "local-analyzer"
    assert models["local-analyzer"]["available"] is True
    assert models["lite"]["available"] is False and "INFERENCE_BACKEND=bedrock" in models["lite"]["reason"]
    assert models["lite"]["inference_profile_id"] == "us.amazon.nova-2-lite-v1:0"
    assert models["premier"]["lifecycle"] == "legacy"
    assert "not Nova" in models["local-analyzer"]["name"]


def test_estimate_gives_batch_at_half_the_on_demand_price(client, library):
    video_ids = [f["id"] for f in library.values() if f["media_type"] == "video"]
    response = client.post("/api/nova/estimate",
                           json={"file_ids": video_ids, "model": "lite", "analysis_types": ["combined"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["on_demand"]["cost_usd"] > 0
    assert body["batch"]["cost_usd"] == pytest.approx(body["on_demand"]["cost_usd"] / 2, rel=1e-3)
    per_file = {f["id"]: f for f in body["files"]}
    one_by_one = per_file[library["one-by-one-person-detection.mp4"]["id"]]
    # about 288 tokens per sampled frame at 1 fps over 139.4 s of video
    assert one_by_one["input_tokens"] >= 288 * 139
    # the local engine's batch minimum is 1 record, so every video goes to batch
    assert body["plan"]["batch_files"] == 3 and body["plan"]["on_demand_files"] == 0


def test_estimate_routes_images_on_demand_and_small_chunks_below_minimum(client, app, library):
    ids = [f["id"] for f in library.values()]
    body = client.post("/api/nova/estimate", json={"file_ids": ids, "model": "lite",
                                                   "analysis_types": ["summary"], "mode": "auto"}).get_json()
    routes = {f["name"]: f["route"] for f in body["files"]}
    assert routes["kiwi.jpg"] == "on_demand" and routes["car-detection.mp4"] == "batch"
    assert any("BATCH_IMAGES" in reason for reason in body["plan"]["reasons"])


def test_estimate_by_filter_is_resolved_on_the_server(client, library):
    body = client.post("/api/nova/estimate", json={"filter": {"media_type": "image"}, "model": "pro"}).get_json()
    assert len(body["files"]) == 4 and all(f["route"] == "on_demand" for f in body["files"])


@pytest.mark.parametrize(
    "payload, code",
    [({"file_ids": [1], "model": "gpt-4"}, "unknown_model"),
     ({"file_ids": [1], "analysis_types": ["poetry"]}, "invalid_parameter"),
     ({"file_ids": [1], "analysis_types": ["combined", "summary"]}, "invalid_parameter"),
     ({"file_ids": "1"}, "invalid_parameter"),
     ({"filter": {"colour": "red"}}, "invalid_filter"),
     ({}, "missing_parameter")],
)
def test_bad_estimate_requests_are_400(client, library, payload, code):
    response = client.post("/api/nova/estimate", json=payload)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == code


def test_analyze_on_an_unconfigured_model_is_422_naming_what_to_set(client, library):
    response = client.post("/api/nova/analyze", json={"file_ids": [library["kiwi.jpg"]["id"]], "model": "lite"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "model_unavailable" and "INFERENCE_BACKEND=bedrock" in error["message"]


def test_on_demand_analysis_stores_every_type_per_file(client, library):
    ids = [library["car-detection.mp4"]["id"], library["Wall.jpg"]["id"]]
    response = client.post("/api/nova/analyze", json={"file_ids": ids, "analysis_types": ["combined"],
                                                      "options": {"summary_depth": "brief"}})
    assert response.status_code == 202, response.get_json()
    job = wait_for_task(client, response.get_json()["task_id"], timeout=180)
    assert job["status"] == "SUCCEEDED" and job["counters"]["completed"] == 2, job

    runs = client.get(f"/api/files/{ids[0]}/analyses").get_json()["items"]
    assert len(runs) == 1
    run = runs[0]
    assert run["status"] == "COMPLETED" and run["mode"] == "on_demand" and run["model"] == "local-analyzer"
    assert set(run["results"]) == {"summary", "chapters", "elements", "waterfall_classification", "search_metadata"}
    chapters = run["results"]["chapters"]["chapters"]
    assert chapters and chapters[0]["start_seconds"] == 0
    assert all(c["end_seconds"] <= 30.3 for c in chapters)
    assert run["tokens_input"] >= 288 * 30 and run["tokens_output"] > 0
    assert run["results"]["summary"]["text"].startswith("Local analysis")
    assert run["error"] is None and run["prompt_version"]

    image_run = client.get(f"/api/files/{ids[1]}/analyses").get_json()["items"][0]
    assert set(image_run["results"]) == {"description", "elements", "waterfall_classification", "metadata"}

    analysed = client.get("/api/files?analysis=completed").get_json()
    assert sorted(item["id"] for item in analysed["items"]) == sorted(ids)
    detail = client.get(f"/api/files/{ids[0]}").get_json()
    assert detail["analysis"] == {"status": "completed", "latest_run_id": run["id"]}
    assert detail["has_proxy"]  # analysis made the proxy it needed


def test_analysis_of_a_file_that_cannot_be_read_fails_with_a_reason(client, library_root):
    folder = library_root / "bad"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    import_folder(client, folder, generate_proxies=False)
    (item,) = client.get("/api/files?status=failed").get_json()["items"]
    response = client.post("/api/nova/analyze", json={"file_ids": [item["id"]], "analysis_types": ["summary"]})
    job = wait_for_task(client, response.get_json()["task_id"])
    assert job["counters"]["failed"] == 1
    (run,) = client.get(f"/api/files/{item['id']}/analyses").get_json()["items"]
    assert run["status"] == "FAILED" and run["error"]["code"] == "unreadable_file"
    assert "could not be read" in run["error"]["message"]
    assert run["results"] == {}
    assert client.get("/api/files?analysis=failed").get_json()["total"] == 1
    assert client.get("/api/files?analysis=completed").get_json()["total"] == 0
