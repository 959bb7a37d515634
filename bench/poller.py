"""AWS calls and time per poller cycle with many active chunks, against a Stubber-backed Bedrock client.

Run: .venv/bin/python bench/poller.py [--chunks 500] [--missing 10]
Target: one ListModelInvocationJobs call per 1,000 active chunks, plus one Get per chunk missing from
the listing. Every request is validated by botocore's Stubber against the service model.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from app import create_app  # noqa: E402
from app.db import connect, transaction  # noqa: E402
from app.inference.bedrock import BedrockBackend  # noqa: E402
from app.services.poller import BatchPoller  # noqa: E402

ACCOUNT = "123456789012"


def job_id(index: int) -> str:
    return f"{index:012d}"[-12:].replace("0", "a")


def summary(index: int, submitted: datetime, status: str = "InProgress") -> dict:
    arn = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:model-invocation-job/{job_id(index)}"
    return {
        "jobArn": arn, "jobName": f"nova-b1-c{index + 1}-bench{index:05d}", "modelId": "us.amazon.nova-2-lite-v1:0",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bedrock-batch", "status": status, "submitTime": submitted,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://bucket/nova_batch/job_{index}/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://bucket/nova_batch_output/job_{index}/"}},
        "totalRecordCount": 150, "processedRecordCount": 75, "successRecordCount": 74, "errorRecordCount": 1,
    }


def seed(db_path: Path, count: int, submitted: datetime) -> None:
    conn = connect(db_path)
    stamp = submitted.isoformat(timespec="microseconds")
    with transaction(conn):
        batch_id = conn.execute(
            "INSERT INTO batches (status, model_key, model_id, mode, analysis_types, created_at, updated_at)"
            " VALUES ('RUNNING', 'lite', 'us.amazon.nova-2-lite-v1:0', 'batch', '[\"combined\"]', ?, ?)",
            (stamp, stamp)).lastrowid
        conn.executemany(
            "INSERT INTO chunks (batch_id, chunk_index, total_chunks, status, provider_status, model_id,"
            " job_name, client_token, job_arn, job_id, staging_folder, manifest_key, output_prefix, records_total,"
            " created_at, submitted_at, updated_at) VALUES (?, ?, ?, 'IN_PROGRESS', 'InProgress',"
            " 'us.amazon.nova-2-lite-v1:0', ?, ?, ?, ?, ?, ?, ?, 150, ?, ?, ?)",
            [(batch_id, i, count, s["jobName"], f"tok{i}", s["jobArn"], job_id(i), f"nova_batch/job_{i}/",
              f"nova_batch/job_{i}/manifest.jsonl", f"nova_batch_output/job_{i}/", stamp, stamp, stamp)
             for i, s in ((i, summary(i, submitted)) for i in range(count))])
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--missing", type=int, default=10, help="chunks absent from the listing")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATA_DIR": tmp, "BATCH_POLLER_ENABLED": True, "BATCH_AUTO_CLEANUP": False,
                          "LOG_LEVEL": "error"})
        submitted = datetime.now(timezone.utc) - timedelta(hours=2)
        seed(app.config["SETTINGS"].DATABASE_PATH, args.chunks, submitted)
        client = boto3.client("bedrock", region_name="us-east-1")
        calls: list[str] = []
        client.meta.events.register("before-parameter-build.bedrock", lambda model, **_: calls.append(model.name))
        stubber = Stubber(client)
        listed = [summary(i, submitted) for i in range(args.missing, args.chunks)]
        pages = [listed[i:i + 1000] for i in range(0, len(listed), 1000)] or [[]]
        for number, page in enumerate(pages):
            response = {"invocationJobSummaries": page}
            if number < len(pages) - 1:
                response["nextToken"] = f"page{number + 1}"
            stubber.add_response("list_model_invocation_jobs", response)
        for i in range(args.missing):
            full = summary(i, submitted)
            stubber.add_response("get_model_invocation_job", full, {"jobIdentifier": full["jobArn"]})
        stubber.activate()
        services = replace(app.extensions["services"],
                           backend=BedrockBackend(region="us-east-1", control_client=client, runtime_client=object()))
        poller = BatchPoller(services, holder="bench")
        started = time.perf_counter()
        outcome = poller.run_once(force=True)
        elapsed = time.perf_counter() - started
        stubber.assert_no_pending_responses()
        lists = calls.count("ListModelInvocationJobs")
        gets = calls.count("GetModelInvocationJob")
        print(f"active chunks: {args.chunks}, missing from listing: {args.missing}")
        print(f"AWS calls in one cycle: {len(calls)} (ListModelInvocationJobs={lists}, GetModelInvocationJob={gets})")
        print(f"chunks checked: {outcome['pipeline']['refresh']['checked']}, cycle time: {elapsed:.3f}s")
        app.extensions["services"].tasks.stop()


if __name__ == "__main__":
    main()
