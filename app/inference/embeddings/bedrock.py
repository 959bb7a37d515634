"""Nova Multimodal Embeddings on Amazon Bedrock: every bedrock-runtime call for embeddings, through boto3.

Synchronous InvokeModel for text and images; StartAsyncInvoke / GetAsyncInvoke / ListAsyncInvokes for
segmented video. Errors are classified by the Bedrock backend's one table (translate_client_error), and the
client retries throttling and transient faults itself (adaptive mode, as for analysis calls).
"""
from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Any, Iterator

import boto3

from app.inference.bedrock import CONTROL_READ_TIMEOUT, client_config, invoke_json, mapped_errors
from app.inference.embeddings.base import (
    NOVA_EMBEDDINGS_MODEL_ID,
    AsyncInvocation,
    EmbeddingBackend,
    check_arn,
    check_dimension,
    check_image,
    check_status,
    check_text,
    check_video_start,
    segmented_video_request,
    single_request,
    vector_of,
)

log = logging.getLogger(__name__)

LIST_PAGE_SIZE = 1000  # ListAsyncInvokes' largest page: one call covers every invocation in flight


class BedrockEmbeddings(EmbeddingBackend):
    """EmbeddingBackend over the bedrock-runtime client."""

    name = "bedrock"

    def __init__(self, *, region: str, dimension: int, profile: str | None = None,
                 model_id: str = NOVA_EMBEDDINGS_MODEL_ID, endpoint_url: str | None = None,
                 client: Any = None) -> None:
        self.model_id = model_id
        self.dimension = check_dimension(dimension)
        if client is None:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            client = session.client("bedrock-runtime", endpoint_url=endpoint_url,
                                    config=client_config(CONTROL_READ_TIMEOUT))
        self._client = client

    @property
    def client(self) -> Any:
        """The boto3 'bedrock-runtime' client."""
        return self._client

    def embed_text(self, text: str, *, purpose: str) -> list[float]:
        # END truncation keeps the start of a long text: its title and summary come first.
        body = single_request(purpose, self.dimension, text={"truncationMode": "END", "value": check_text(text)})
        return vector_of(self._invoke(body), self.dimension)

    def embed_image(self, data: bytes, image_format: str, *, purpose: str) -> list[float]:
        check_image(data, image_format)
        source = {"bytes": base64.b64encode(data).decode("ascii")}
        body = single_request(purpose, self.dimension,
                              image={"format": image_format, "detailLevel": "STANDARD_IMAGE", "source": source})
        return vector_of(self._invoke(body), self.dimension)

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        return invoke_json(self._client, self.model_id, json.dumps(body))

    def start_video(self, *, video_uri: str, video_format: str, output_uri: str, client_token: str,
                    segment_seconds: int, mode: str) -> str:
        check_video_start(video_uri=video_uri, video_format=video_format, output_uri=output_uri,
                          client_token=client_token, segment_seconds=segment_seconds, mode=mode)
        model_input = segmented_video_request(dimension=self.dimension, video_uri=video_uri,
                                              video_format=video_format, segment_seconds=segment_seconds, mode=mode)
        with mapped_errors("StartAsyncInvoke"):
            response = self._client.start_async_invoke(
                modelId=self.model_id, modelInput=model_input,
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": output_uri}},
                # The app's own token (stored before the call): a repeat after a lost answer cannot start a twin.
                clientRequestToken=client_token)
        arn = response["invocationArn"]
        log.info("started async embedding %s (%s)", arn, client_token)
        return arn

    def get_invocation(self, arn: str) -> AsyncInvocation:
        check_arn(arn)
        with mapped_errors("GetAsyncInvoke"):
            return _invocation(self._client.get_async_invoke(invocationArn=arn))

    def list_invocations(self, *, submitted_after: datetime | None = None,
                         status: str | None = None) -> Iterator[AsyncInvocation]:
        params: dict[str, Any] = {"sortBy": "SubmissionTime", "sortOrder": "Descending"}
        if submitted_after is not None:
            params["submitTimeAfter"] = submitted_after
        if status is not None:
            params["statusEquals"] = check_status(status)
        return self._pages(params)

    def _pages(self, params: dict[str, Any]) -> Iterator[AsyncInvocation]:
        pages = self._client.get_paginator("list_async_invokes").paginate(
            **params, PaginationConfig={"PageSize": LIST_PAGE_SIZE})
        with mapped_errors("ListAsyncInvokes"):
            for page in pages:
                for summary in page.get("asyncInvokeSummaries", []):
                    yield _invocation(summary)


def _invocation(data: dict[str, Any]) -> AsyncInvocation:
    output = (data.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}
    return AsyncInvocation(arn=data["invocationArn"], status=data.get("status") or "",
                           client_token=data.get("clientRequestToken"), failure_message=data.get("failureMessage"),
                           output_uri=output.get("s3Uri"), submit_time=data.get("submitTime"),
                           end_time=data.get("endTime"))
