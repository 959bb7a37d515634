"""Proxy and thumbnail generation through the API, read back from the files it wrote."""
from __future__ import annotations

import av
from PIL import Image

from helpers import import_folder, wait_for_task


def test_import_then_proxies_for_every_sample(client, sample_media, data_dir):
    job = import_folder(client, sample_media)
    assert job["status"] == "SUCCEEDED"
    proxies_job = wait_for_task(client, job["result"]["proxies_task_id"], timeout=300)
    assert proxies_job["status"] == "SUCCEEDED", proxies_job
    assert proxies_job["counters"]["generated"] == 7 and proxies_job["failed_count"] == 0

    body = client.get("/api/files?per_page=50").get_json()
    assert body["summary"]["proxy_bytes"] > 0
    for item in body["items"]:
        assert item["has_proxy"] and item["thumbnail_url"] and item["proxy_url"]
        thumb = client.get(item["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        detail = client.get(f"/api/files/{item['id']}").get_json()
        assert detail["proxy"]["height"] <= (720 if item["media_type"] == "video" else 10_000)
    car = next(i for i in body["items"] if i["name"] == "car-detection.mp4")
    proxy_file = next((data_dir / "proxies").rglob(f"{car['id']}/proxy.mp4"))
    with av.open(str(proxy_file)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.height <= 720 and stream.codec_context.height % 2 == 0
        assert float(stream.average_rate) <= 15.01
        assert abs(container.duration / 1e6 - car["duration_seconds"]) < 0.3
        assert container.streams.audio, "car-detection.mp4 has audio; its proxy must keep it"
    wall = next(i for i in body["items"] if i["name"] == "Wall.jpg")
    wall_proxy = next((data_dir / "proxies").rglob(f"{wall['id']}/proxy.jpg"))
    with Image.open(wall_proxy) as image:
        assert min(image.size) == 896
    with Image.open(next((data_dir / "proxies").rglob(f"{wall['id']}/thumb.jpg"))) as thumb:
        assert thumb.size[0] == 320


def test_proxy_supports_range_requests(client, sample_media):
    import_folder(client, sample_media, generate_proxies=False)
    car = client.get("/api/files?q=car-detection").get_json()["items"][0]
    job = client.post("/api/files/proxies", json={"file_ids": [car["id"]]}).get_json()
    assert wait_for_task(client, job["task_id"], timeout=180)["status"] == "SUCCEEDED"
    full = client.get(f"/api/files/{car['id']}/proxy")
    assert full.status_code == 200 and full.mimetype == "video/mp4"
    partial = client.get(f"/api/files/{car['id']}/proxy", headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.data == full.data[100:200]
    assert partial.headers["Content-Range"].startswith("bytes 100-199/")


def test_proxies_skip_existing_unless_forced(client, sample_media):
    import_folder(client, sample_media, generate_proxies=False)
    kiwi = client.get("/api/files?q=kiwi").get_json()["items"][0]
    first = wait_for_task(client, client.post("/api/files/proxies", json={"file_ids": [kiwi["id"]]}).get_json()["task_id"])
    assert first["counters"]["generated"] == 1
    again = wait_for_task(client, client.post("/api/files/proxies", json={"file_ids": [kiwi["id"]]}).get_json()["task_id"])
    assert again["counters"]["skipped"] == 1 and again["counters"]["generated"] == 0
    forced = client.post("/api/files/proxies", json={"file_ids": [kiwi["id"]], "force": True}).get_json()
    assert wait_for_task(client, forced["task_id"])["counters"]["generated"] == 1


def test_proxies_by_filter_and_bad_requests(client, sample_media):
    import_folder(client, sample_media, generate_proxies=False)
    job = client.post("/api/files/proxies", json={"filter": {"media_type": "image"}}).get_json()
    done = wait_for_task(client, job["task_id"])
    assert done["total"] == 4 and done["counters"]["generated"] == 4
    assert client.post("/api/files/proxies", json={"file_ids": [99999]}).status_code == 404
    assert client.post("/api/files/proxies", json={"filter": {"nope": 1}}).status_code == 400
    assert client.post("/api/files/proxies", json={"file_ids": [1], "force": "yes"}).status_code == 400
    assert client.post("/api/files/proxies", json={}).status_code == 400
