"""Model catalog: keys, defaults per backend, price overrides and unknown keys."""
from __future__ import annotations

import json

import pytest

from app.nova.catalog import UnknownModel, load_catalog, request_model_id


def test_catalog_lists_the_four_nova_models_and_the_local_analyzer():
    catalog = load_catalog()
    assert catalog.keys() == ["lite", "lite-v1", "pro", "premier", "local-analyzer"]
    lite = catalog.get("lite")
    assert lite.name == "Nova 2 Lite"
    assert lite.model_id == "amazon.nova-2-lite-v1:0"
    assert lite.inference_profile_id == "us.amazon.nova-2-lite-v1:0"
    assert catalog.get("premier").lifecycle == "legacy"
    local = catalog.get("local-analyzer")
    assert local.backend == "local" and local.model_id == "local-analyzer"
    assert (local.price_input_per_1k, local.price_output_per_1k) == (0.0, 0.0)
    assert all(m.video and m.image for m in catalog.all())


def test_bundled_prices_come_from_the_prices_file():
    catalog = load_catalog()
    assert catalog.get("pro").price_input_per_1k == pytest.approx(0.0008)
    assert catalog.get("pro").price_output_per_1k == pytest.approx(0.0032)
    assert catalog.get("lite").price_output_per_1k == pytest.approx(0.00275)
    assert catalog.batch_price_factor == 0.5


def test_default_model_depends_on_the_inference_backend():
    catalog = load_catalog()
    assert catalog.default_key("bedrock") == "lite"
    assert catalog.default_key("local") == "local-analyzer"
    with pytest.raises(ValueError):
        catalog.default_key("openai")


def test_unknown_key_error_lists_valid_keys():
    with pytest.raises(UnknownModel) as info:
        load_catalog().get("nova-ultra")
    assert "nova-ultra" in str(info.value)
    assert "lite, lite-v1, pro, premier, local-analyzer" in str(info.value)
    assert info.value.status == 400


def test_request_model_id_prefers_the_inference_profile():
    catalog = load_catalog()
    assert request_model_id(catalog.get("lite")) == "us.amazon.nova-2-lite-v1:0"
    assert request_model_id(catalog.get("premier")) == "us.amazon.nova-premier-v1:0"
    assert request_model_id(catalog.get("pro")) == "us.amazon.nova-pro-v1:0"
    assert request_model_id(catalog.get("local-analyzer")) == "local-analyzer"


def test_video_limits_follow_the_documented_sampling():
    catalog = load_catalog()
    assert catalog.get("pro").max_video_seconds == 3600
    assert catalog.get("pro").max_video_frames == 960
    assert catalog.get("premier").max_video_frames == 3200
    assert all(m.max_object_bytes == 1024 ** 3 for m in catalog.all())


def test_partial_override_file_changes_only_the_prices_it_names(tmp_path):
    override = tmp_path / "prices.json"
    override.write_text(json.dumps({"models": {"pro": {"input_per_1k": 0.00087}}}))
    catalog = load_catalog(override)
    assert catalog.get("pro").price_input_per_1k == pytest.approx(0.00087)
    assert catalog.get("pro").price_output_per_1k == pytest.approx(0.0032)
    assert catalog.get("lite").price_input_per_1k == pytest.approx(0.00033)


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('{"pro": {"input_per_1k": 1}}', '"models"'),
    ('{"models": {"gpt": {"input_per_1k": 1}}}', "unknown model 'gpt'"),
    ('{"models": {"pro": {"input_per_1k": -1}}}', "pro.input_per_1k must be a non-negative number"),
    ('{"models": {"pro": {"input_per_1k": "cheap"}}}', "pro.input_per_1k"),
    ('{"models": {"pro": {"input": 0.1}}}', "unknown fields"),
])
def test_bad_override_file_names_the_file_and_the_problem(tmp_path, content, problem):
    override = tmp_path / "bad-prices.json"
    override.write_text(content)
    with pytest.raises(ValueError) as info:
        load_catalog(override)
    assert str(override) in str(info.value)
    assert problem in str(info.value)


def test_missing_override_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot be read"):
        load_catalog(tmp_path / "absent.json")
