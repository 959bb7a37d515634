"""Importing a module loads only what it needs: no Flask below the web layer, no boto3 unless AWS is called."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Modules the batch pipeline, the CLI's workers and the fork-server ingestion workers import.
CORE_MODULES = [
    "app.db.batches", "app.db.chunks", "app.db.tasks", "app.inference.base", "app.inference.local",
    "app.nova.schemas", "app.media", "app.storage", "app.services.context", "app.services.poller",
    "app.services.batch.ingest", "app.services.batch.ingest_pool", "app.services.pipeline", "app.utils.leases",
    "app.inference.transcribe.local", "app.services.transcripts.process",
]


def loaded_after_import(module: str) -> set[str]:
    """The top-level packages in sys.modules after importing `module` in a fresh interpreter."""
    code = f"import sys, json, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_modules_load_neither_flask_nor_boto3(module):
    loaded = loaded_after_import(module)
    assert "flask" not in loaded and "werkzeug" not in loaded, f"{module} loads Flask"
    assert "boto3" not in loaded and "botocore" not in loaded, f"{module} loads boto3"


def test_the_aws_modules_do_load_boto3():
    # The check above can fail: these modules are where boto3 belongs.
    assert "boto3" in loaded_after_import("app.inference.bedrock")
    assert "boto3" in loaded_after_import("app.storage.s3")
    assert "boto3" in loaded_after_import("app.inference.transcribe.aws")


def test_import_contracts_are_kept():
    """The layers, Flask, boto3, data-layer and cycle rules of .importlinter (also run by `make test`)."""
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
