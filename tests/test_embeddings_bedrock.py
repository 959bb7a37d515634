"""Nova Multimodal Embeddings through botocore Stubbers on a real bedrock-runtime client: every call's
parameters as the service model checks them, its answer, and its errors."""
from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timezone

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from app.inference.base import (AccessDeniedError, ConflictError, InferenceError, QuotaExceededError, ThrottlingError,
                                TransientServiceError, ValidationError)
from app.inference.embeddings.base import NOVA_EMBEDDINGS_MODEL_ID
from app.inference.embeddings.bedrock import BedrockEmbeddings
from helpers import fake_aws_env

ARN = "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
VIDEO = "s3://media-library/embeddings/7/abc/input/proxy.mp4"
OUTPUT = "s3://media-library/embeddings/7/abc/output/"
START = dict(video_uri=VIDEO, video_format="mp4", output_uri=OUTPUT, client_token="mlib-emb-1-0123456789abcdef",
             segment_seconds=15, mode="AUDIO_VIDEO_COMBINED")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        fake_aws_env(mp, tmp_path_factory.mktemp("aws"))
        yield BedrockEmbeddings(region="us-east-1", dimension=256)


@pytest.fixture
def runtime(backend):
    with Stubber(backend.client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def body_of(payload: dict) -> dict:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


def vector(n=256, value=0.5):
    return [value] * n


def test_client_retries_adaptively_in_its_region(backend):
    config = backend.client.meta.config
    assert backend.client.meta.service_model.service_name == "bedrock-runtime"
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 9}
    assert config.region_name == "us-east-1"
    assert (backend.name, backend.model_id, backend.dimension) == ("bedrock", NOVA_EMBEDDINGS_MODEL_ID, 256)


def test_text_is_embedded_synchronously_with_the_documented_body(backend, runtime):
    request = {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
        "embeddingPurpose": "GENERIC_RETRIEVAL", "embeddingDimension": 256,
        "text": {"truncationMode": "END", "value": "the pump house at night"}}}
    runtime.add_response("invoke_model", body_of({"embeddings": [{"embeddingType": "TEXT", "embedding": vector()}]}),
                         expected_params={"modelId": NOVA_EMBEDDINGS_MODEL_ID, "body": json.dumps(request),
                                          "contentType": "application/json", "accept": "application/json"})
    assert backend.embed_text("the pump house at night", purpose="GENERIC_RETRIEVAL") == vector()


def test_an_image_is_sent_inline_as_base64(backend, runtime):
    data = b"\xff\xd8\xff\xe0 a jpeg"
    request = {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {
        "embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 256,
        "image": {"format": "jpeg", "detailLevel": "STANDARD_IMAGE",
                  "source": {"bytes": base64.b64encode(data).decode("ascii")}}}}
    runtime.add_response("invoke_model", body_of({"embeddings": [{"embeddingType": "IMAGE", "embedding": vector()}]}),
                         expected_params={"modelId": NOVA_EMBEDDINGS_MODEL_ID, "body": json.dumps(request),
                                          "contentType": "application/json", "accept": "application/json"})
    assert backend.embed_image(data, "jpeg", purpose="GENERIC_INDEX") == vector()


def test_a_vector_of_the_wrong_length_is_refused(backend, runtime):
    runtime.add_response("invoke_model", body_of({"embeddings": [{"embeddingType": "TEXT", "embedding": vector(1024)}]}))
    with pytest.raises(ValidationError, match="256 numbers"):
        backend.embed_text("x", purpose="GENERIC_INDEX")


@pytest.mark.parametrize("call", [
    lambda b: b.embed_text("", purpose="GENERIC_INDEX"),
    lambda b: b.embed_text("x" * 8193, purpose="GENERIC_INDEX"),
    lambda b: b.embed_text("x", purpose="ANYTHING"),
    lambda b: b.embed_image(b"x", "bmp", purpose="GENERIC_INDEX"),
    lambda b: b.start_video(**{**START, "video_uri": "https://example.com/v.mp4"}),
    lambda b: b.start_video(**{**START, "client_token": "has space"}),
    lambda b: b.start_video(**{**START, "segment_seconds": 31}),
    lambda b: b.start_video(**{**START, "mode": "BOTH"}),
    lambda b: b.get_invocation("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef123456"),
    lambda b: list(b.list_invocations(status="Done")),
])
def test_bad_parameters_are_refused_before_any_call(backend, runtime, call):
    with pytest.raises(ValidationError):
        call(backend)


@pytest.mark.parametrize("code,status,error_class,transient", [
    ("ThrottlingException", 429, ThrottlingError, True),
    ("ServiceQuotaExceededException", 400, QuotaExceededError, True),
    ("ServiceUnavailableException", 503, TransientServiceError, True),
    ("ModelNotReadyException", 429, TransientServiceError, True),
    ("ValidationException", 400, ValidationError, False),
    ("AccessDeniedException", 403, AccessDeniedError, False),
    ("ModelErrorException", 424, InferenceError, False),
])
def test_sync_errors_are_classified_like_every_bedrock_call(backend, runtime, code, status, error_class, transient):
    runtime.add_client_error("invoke_model", service_error_code=code, service_message="no", http_status_code=status)
    with pytest.raises(InferenceError) as err:
        backend.embed_text("x", purpose="GENERIC_INDEX")
    assert type(err.value) is error_class and err.value.transient is transient


def test_a_video_starts_asynchronously_with_the_apps_client_token(backend, runtime):
    model_input = {"schemaVersion": "nova-multimodal-embed-v1", "taskType": "SEGMENTED_EMBEDDING",
                   "segmentedEmbeddingParams": {
                       "embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 256,
                       "video": {"format": "mp4", "embeddingMode": "AUDIO_VIDEO_COMBINED",
                                 "source": {"s3Location": {"uri": VIDEO}},
                                 "segmentationConfig": {"durationSeconds": 15}}}}
    runtime.add_response("start_async_invoke", {"invocationArn": ARN}, expected_params={
        "modelId": NOVA_EMBEDDINGS_MODEL_ID, "modelInput": model_input,
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT}}, "clientRequestToken": START["client_token"]})
    assert backend.start_video(**START) == ARN


@pytest.mark.parametrize("code,error_class", [("ThrottlingException", ThrottlingError),
                                              ("ServiceQuotaExceededException", QuotaExceededError),
                                              ("ConflictException", ConflictError)])
def test_async_start_errors_are_classified(backend, runtime, code, error_class):
    runtime.add_client_error("start_async_invoke", service_error_code=code, http_status_code=400)
    with pytest.raises(error_class):
        backend.start_video(**START)


def test_get_maps_the_invocation(backend, runtime):
    runtime.add_response("get_async_invoke", {
        "invocationArn": ARN, "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/x", "status": "Failed",
        "clientRequestToken": "tok", "failureMessage": "bad video", "submitTime": T0, "endTime": T0,
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT + "abcdef123456"}}},
        expected_params={"invocationArn": ARN})
    info = backend.get_invocation(ARN)
    assert (info.status, info.failure_message, info.client_token, info.terminal) == ("Failed", "bad video", "tok", True)
    assert info.output_uri == OUTPUT + "abcdef123456" and info.invocation_id == "abcdef123456"


def summary(arn=ARN, token="tok", status="InProgress"):
    return {"invocationArn": arn, "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/x", "status": status,
            "clientRequestToken": token, "submitTime": T0,
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT}}}


def test_list_walks_every_page_newest_first_with_filters(backend, runtime):
    second = ARN.replace("abcdef123456", "zzzzzz999999")
    base = {"sortBy": "SubmissionTime", "sortOrder": "Descending", "submitTimeAfter": T0, "statusEquals": "Completed",
            "maxResults": 1000}
    runtime.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary()], "nextToken": "page2"},
                         expected_params=base)
    runtime.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary(second)]},
                         expected_params={**base, "nextToken": "page2"})
    assert [i.arn for i in backend.list_invocations(submitted_after=T0, status="Completed")] == [ARN, second]


def test_find_invocation_heals_a_lost_start_by_its_token(backend, runtime):
    runtime.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary(token="other"), summary(token="mine")]})
    assert backend.find_invocation("mine").client_token == "mine"
    runtime.add_response("list_async_invokes", {"asyncInvokeSummaries": [summary(token="other")]})
    assert backend.find_invocation("mine") is None


def test_list_errors_are_classified(backend, runtime):
    runtime.add_client_error("list_async_invokes", service_error_code="ThrottlingException", http_status_code=429)
    with pytest.raises(ThrottlingError):
        list(backend.list_invocations())
