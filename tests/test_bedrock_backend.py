"""BedrockBackend against botocore Stubbers on its real clients, plus the shared input validators."""
import io
import json
import logging
import random
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
    UnStubbedResponseError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber

from app.inference.base import (
    BATCH_STATUSES,
    TERMINAL_STATUSES,
    AccessDeniedError,
    BatchJobInfo,
    ConflictError,
    InferenceError,
    NotFoundError,
    QuotaExceededError,
    ThrottlingError,
    TransientServiceError,
    ValidationError,
    job_id_from_arn,
    validate_batch_s3_uri,
    validate_client_token,
    validate_job_name,
)
from app.inference.base import AWS_CLIENT_TOKEN_PATTERN, AWS_JOB_NAME_PATTERN
from app.inference.bedrock import BedrockBackend
from helpers import fake_aws_env

SECRET = "FAKEsecretKEYthatMustNeverLeak0123456789"
JOB_ID = "abc123def456"
JOB_ARN = f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{JOB_ID}"
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-batch"
MODEL_ID = "us.amazon.nova-lite-v1:0"
INPUT_URI = "s3://media-batch/batch/job-1/input/"
OUTPUT_URI = "s3://media-batch/batch/job-1/output/"
T0 = datetime(2026, 9, 1, 12, 0, tzinfo=timezone.utc)

CREATE_ARGS = dict(name="media-job-1", model_id=MODEL_ID, input_uri=INPUT_URI, output_uri=OUTPUT_URI,
                   role_arn=ROLE_ARN, client_token="tok-1234abcd", timeout_hours=72)


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory):
    """Fake credentials and an empty AWS config, so nothing from the developer's machine is used."""
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as mp:
        fake_aws_env(mp, home, secret=SECRET)
        yield


@pytest.fixture(scope="module")
def backend(aws_env):
    """One backend per module: building boto3 clients costs ~0.1 s, and Stubbers are per test."""
    return BedrockBackend(region="us-east-1")


@pytest.fixture
def fresh_backend(aws_env):
    """A backend of its own, for tests that attach extra event hooks to its clients."""
    return BedrockBackend(region="us-east-1")


@pytest.fixture
def control(backend):
    """An active Stubber on the bedrock client; every queued response must be used."""
    with Stubber(backend.control_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def runtime(backend):
    """An active Stubber on the bedrock-runtime client; every queued response must be used."""
    with Stubber(backend.runtime_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def calls(backend):
    """Names of every API operation either client started, recorded before any stubber sees it."""
    seen = []

    def record(model, **kwargs):
        seen.append(model.name)

    hooks = [(backend.control_client, "before-parameter-build.bedrock"),
             (backend.runtime_client, "before-parameter-build.bedrock-runtime")]
    for client, event in hooks:
        client.meta.events.register_first(event, record, unique_id="test-call-recorder")
    yield seen
    for client, event in hooks:
        client.meta.events.unregister(event, unique_id="test-call-recorder")


def job_response(**overrides):
    """A complete GetModelInvocationJob response."""
    data = {
        "jobArn": JOB_ARN,
        "jobName": "media-job-1",
        "modelId": MODEL_ID,
        "clientRequestToken": "tok-1234abcd",
        "roleArn": ROLE_ARN,
        "status": "PartiallyCompleted",
        "message": "3 records failed",
        "submitTime": T0,
        "lastModifiedTime": T0 + timedelta(hours=2),
        "endTime": T0 + timedelta(hours=3),
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT_URI, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT_URI}},
        "timeoutDurationInHours": 72,
        "jobExpirationTime": T0 + timedelta(hours=72),
        "modelInvocationType": "InvokeModel",
        "totalRecordCount": 120,
        "processedRecordCount": 120,
        "successRecordCount": 117,
        "errorRecordCount": 3,
    }
    data.update(overrides)
    return data


def summary(job_id, name, *, submitted=T0, token=None, status="InProgress"):
    """A ListModelInvocationJobs summary entry."""
    data = {
        "jobArn": f"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/{job_id}",
        "jobName": name,
        "modelId": MODEL_ID,
        "roleArn": ROLE_ARN,
        "status": status,
        "submitTime": submitted,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT_URI}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT_URI}},
    }
    if token:
        data["clientRequestToken"] = token
    return data


def streaming(data: bytes) -> StreamingBody:
    """An InvokeModel response body."""
    return StreamingBody(io.BytesIO(data), len(data))


def assert_no_call_was_possible(stubber, client, calls):
    """Prove that nothing reached AWS: no operation started and the empty stub queue is still armed."""
    assert calls == []
    stubber.assert_no_pending_responses()
    with pytest.raises(UnStubbedResponseError):
        client.get_model_invocation_job(jobIdentifier=JOB_ID)


def test_clients_use_adaptive_retries_timeouts_and_region(backend):
    control_cfg = backend.control_client.meta.config
    runtime_cfg = backend.runtime_client.meta.config
    assert backend.control_client.meta.service_model.service_name == "bedrock"
    assert backend.runtime_client.meta.service_model.service_name == "bedrock-runtime"
    for cfg in (control_cfg, runtime_cfg):
        # botocore stores max_attempts=8 retries as 9 attempts in total.
        assert cfg.retries == {"mode": "adaptive", "total_max_attempts": 9}
        assert cfg.connect_timeout == 10
        assert cfg.region_name == "us-east-1"
    assert runtime_cfg.read_timeout == 900


def test_custom_endpoints_and_read_timeout_are_applied(aws_env):
    custom = BedrockBackend(region="us-west-2", endpoint_url="http://localhost:4566",
                            runtime_endpoint_url="http://localhost:4567", read_timeout=1200)
    assert custom.control_client.meta.endpoint_url == "http://localhost:4566"
    assert custom.runtime_client.meta.endpoint_url == "http://localhost:4567"
    assert custom.runtime_client.meta.config.read_timeout == 1200
    assert custom.control_client.meta.region_name == "us-west-2"


def test_injected_clients_are_used_as_given(backend):
    injected = BedrockBackend(region="us-east-1", control_client=backend.control_client,
                              runtime_client=backend.runtime_client)
    assert injected.control_client is backend.control_client
    assert injected.runtime_client is backend.runtime_client
    assert injected.name == "bedrock"


def test_create_batch_job_sends_exact_parameters_and_returns_arn(backend, control):
    control.add_response("create_model_invocation_job", {"jobArn": JOB_ARN}, expected_params={
        "jobName": "media-job-1",
        "roleArn": ROLE_ARN,
        "modelId": MODEL_ID,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT_URI, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT_URI}},
        "clientRequestToken": "tok-1234abcd",
        "timeoutDurationInHours": 72,
    })

    arn = backend.create_batch_job(**CREATE_ARGS)

    assert arn == JOB_ARN
    assert job_id_from_arn(arn) == JOB_ID


@pytest.mark.parametrize("name", ["media_job", "media job", "a" * 64, "", "-job", ".job", "job/1", "jöb"])
def test_invalid_job_name_is_rejected_before_any_call(backend, control, calls, name):
    with pytest.raises(ValidationError) as err:
        backend.create_batch_job(**{**CREATE_ARGS, "name": name})
    assert "job name" in err.value.message
    assert_no_call_was_possible(control, backend.control_client, calls)


@pytest.mark.parametrize("uri", [
    "s3://media-batch/my folder/",
    "s3://media-batch/a,b/",
    "s3://media-batch/a+b/",
    "s3://media-batch/vidéo/",
    "s3://media-batch//input/",
    "s3://media-batch/a=b/",
    "s3://Media-Batch/input/",
    "https://media-batch/input/",
    "s3://media-batch/" + "a" * 1020,
])
@pytest.mark.parametrize("field", ["input_uri", "output_uri"])
def test_invalid_batch_s3_uri_is_rejected_before_any_call(backend, control, calls, field, uri):
    with pytest.raises(ValidationError) as err:
        backend.create_batch_job(**{**CREATE_ARGS, field: uri})
    assert "S3 URI" in err.value.message
    assert not err.value.transient
    assert_no_call_was_possible(control, backend.control_client, calls)


@pytest.mark.parametrize("hours", [23, 169, 0, -24, True, "48", 48.0, None])
def test_timeout_outside_24_to_168_hours_is_rejected_before_any_call(backend, control, calls, hours):
    with pytest.raises(ValidationError):
        backend.create_batch_job(**{**CREATE_ARGS, "timeout_hours": hours})
    assert_no_call_was_possible(control, backend.control_client, calls)


@pytest.mark.parametrize("hours", [24, 168])
def test_timeout_bounds_are_inclusive(backend, control, hours):
    control.add_response("create_model_invocation_job", {"jobArn": JOB_ARN},
                         expected_params={**_expected_create_params(), "timeoutDurationInHours": hours})
    assert backend.create_batch_job(**{**CREATE_ARGS, "timeout_hours": hours}) == JOB_ARN


def _expected_create_params():
    return {
        "jobName": "media-job-1", "roleArn": ROLE_ARN, "modelId": MODEL_ID,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT_URI, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT_URI}},
        "clientRequestToken": "tok-1234abcd", "timeoutDurationInHours": 72,
    }


@pytest.mark.parametrize("field,value", [
    ("client_token", "tok_1"), ("client_token", "-tok"), ("client_token", "tok-"), ("client_token", "a" * 257),
    ("client_token", ""), ("role_arn", "bedrock-batch"), ("role_arn", "arn:aws:iam::123:role/x"),
    ("model_id", ""),
])
def test_invalid_token_role_or_model_is_rejected_before_any_call(backend, control, calls, field, value):
    with pytest.raises(ValidationError):
        backend.create_batch_job(**{**CREATE_ARGS, field: value})
    assert_no_call_was_possible(control, backend.control_client, calls)


@pytest.mark.parametrize("name", ["a", "Job-1.v2+x", "a" * 63, "9--x", "job-"])
def test_valid_job_names_pass(name):
    assert validate_job_name(name) == name


@pytest.mark.parametrize("uri", [
    "s3://media-batch", "s3://media-batch/", "s3://media.batch-1/batch/job-1/input/",
    "s3://abc/x_y/(1)/it's!*.jsonl", "s3://abc/UPPER/Case",
])
def test_valid_batch_s3_uris_pass(uri):
    assert validate_batch_s3_uri(uri) == uri


@pytest.mark.parametrize("token", ["a", "A1", "job-1--2", "a" * 256])
def test_valid_client_tokens_pass(token):
    assert validate_client_token(token) == token


def test_job_name_and_token_patterns_accept_exactly_what_the_aws_patterns_accept():
    rng = random.Random(7)
    alphabet = "aZ9-+._ /"
    aws_name, aws_token = re.compile(AWS_JOB_NAME_PATTERN), re.compile(AWS_CLIENT_TOKEN_PATTERN)
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        assert _accepts(validate_job_name, s) == bool(aws_name.fullmatch(s)), s
        assert _accepts(validate_client_token, s) == bool(aws_token.fullmatch(s)), s


def _accepts(validator, value):
    try:
        validator(value)
    except ValidationError:
        return False
    return True


def test_job_name_validation_stays_fast_on_dash_runs():
    started = time.perf_counter()
    with pytest.raises(ValidationError):
        validate_job_name("a" + "-" * 61 + "_")
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("identifier", [JOB_ID, JOB_ARN])
def test_get_batch_job_maps_every_field(backend, control, identifier):
    control.add_response("get_model_invocation_job", job_response(),
                         expected_params={"jobIdentifier": identifier})

    info = backend.get_batch_job(identifier)

    assert info == BatchJobInfo(
        job_id=JOB_ID, job_arn=JOB_ARN, name="media-job-1", status="PartiallyCompleted",
        message="3 records failed", model_id=MODEL_ID, client_token="tok-1234abcd",
        submit_time=T0, last_modified_time=T0 + timedelta(hours=2), end_time=T0 + timedelta(hours=3),
        expiration_time=T0 + timedelta(hours=72), input_uri=INPUT_URI, output_uri=OUTPUT_URI,
        total_records=120, processed_records=120, success_records=117, error_records=3,
    )
    assert info.terminal


def test_get_batch_job_without_optional_fields_leaves_them_none(backend, control):
    minimal = {k: v for k, v in job_response(status="Submitted").items()
               if k in {"jobArn", "modelId", "roleArn", "submitTime", "inputDataConfig", "outputDataConfig",
                        "status"}}
    control.add_response("get_model_invocation_job", minimal)

    info = backend.get_batch_job(JOB_ID)

    assert (info.status, info.name, info.message, info.total_records, info.end_time) == ("Submitted", "", None,
                                                                                          None, None)
    assert not info.terminal


@pytest.mark.parametrize("identifier", ["ABC123DEF456", "abc123", "job-1", f"{JOB_ARN}x", ""])
def test_get_batch_job_rejects_malformed_identifier_before_any_call(backend, control, calls, identifier):
    with pytest.raises(ValidationError):
        backend.get_batch_job(identifier)
    assert_no_call_was_possible(control, backend.control_client, calls)


def test_unknown_status_is_kept_verbatim_logged_and_not_terminal(backend, control, caplog):
    control.add_response("get_model_invocation_job", job_response(status="Archiving"))

    with caplog.at_level(logging.WARNING, logger="app.inference.bedrock"):
        info = backend.get_batch_job(JOB_ID)

    assert info.status == "Archiving"
    assert not info.terminal
    assert not info.known_status
    assert "Archiving" in caplog.text


@pytest.mark.parametrize("status", BATCH_STATUSES)
def test_terminal_matches_the_documented_terminal_statuses(status):
    info = BatchJobInfo(job_id=JOB_ID, job_arn=JOB_ARN, name="n", status=status)
    assert info.terminal == (status in {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})
    assert info.known_status
    assert TERMINAL_STATUSES <= set(BATCH_STATUSES)


def test_list_batch_jobs_follows_next_token_across_pages_with_filters(backend, control):
    base = {"nameContains": "media-job", "statusEquals": "InProgress", "submitTimeAfter": T0,
            "sortBy": "CreationTime", "sortOrder": "Descending", "maxResults": 1000}
    control.add_response("list_model_invocation_jobs", {
        "invocationJobSummaries": [summary("aaaaaaaaaaa1", "media-job-1"), summary("aaaaaaaaaaa2", "media-job-2")],
        "nextToken": "page-2",
    }, expected_params=base)
    control.add_response("list_model_invocation_jobs", {
        "invocationJobSummaries": [summary("aaaaaaaaaaa3", "media-job-3", token="tok3")],
    }, expected_params={**base, "nextToken": "page-2"})

    jobs = list(backend.list_batch_jobs(name_contains="media-job", status="InProgress", submitted_after=T0))

    assert [j.job_id for j in jobs] == ["aaaaaaaaaaa1", "aaaaaaaaaaa2", "aaaaaaaaaaa3"]
    assert [j.name for j in jobs] == ["media-job-1", "media-job-2", "media-job-3"]
    assert jobs[2].client_token == "tok3"
    assert all(j.status == "InProgress" and j.input_uri == INPUT_URI for j in jobs)


def test_list_batch_jobs_without_filters_sends_only_sorting_and_page_size(backend, control):
    control.add_response("list_model_invocation_jobs", {"invocationJobSummaries": []}, expected_params={
        "sortBy": "CreationTime", "sortOrder": "Descending", "maxResults": 1000})
    assert list(backend.list_batch_jobs()) == []


@pytest.mark.parametrize("kwargs", [{"status": "Running"}, {"name_contains": "media_job"}])
def test_list_batch_jobs_rejects_bad_filters_at_call_time(backend, control, calls, kwargs):
    with pytest.raises(ValidationError):
        backend.list_batch_jobs(**kwargs)
    assert_no_call_was_possible(control, backend.control_client, calls)


def test_find_batch_job_by_name_ignores_partial_matches_and_picks_newest(backend, control):
    control.add_response("list_model_invocation_jobs", {"invocationJobSummaries": [
        summary("bbbbbbbbbbb1", "media-job-10", submitted=T0 + timedelta(hours=5)),
        summary("bbbbbbbbbbb2", "media-job-1", submitted=T0),
        summary("bbbbbbbbbbb3", "media-job-1", submitted=T0 + timedelta(hours=1)),
    ]}, expected_params={"nameContains": "media-job-1", "sortBy": "CreationTime", "sortOrder": "Descending",
                         "maxResults": 1000})

    found = backend.find_batch_job(name="media-job-1")

    assert found is not None and found.job_id == "bbbbbbbbbbb3"


def test_find_batch_job_by_client_token_within_a_time_window(backend, control):
    control.add_response("list_model_invocation_jobs", {"invocationJobSummaries": [
        summary("ccccccccccc1", "media-job-1", token="other"),
        summary("ccccccccccc2", "media-job-2", token="tok-1234abcd"),
    ]}, expected_params={"submitTimeAfter": T0, "sortBy": "CreationTime", "sortOrder": "Descending",
                         "maxResults": 1000})

    found = backend.find_batch_job(client_token="tok-1234abcd", submitted_after=T0)

    assert found is not None and found.job_arn.endswith("ccccccccccc2")


def test_find_batch_job_returns_none_when_name_and_token_do_not_both_match(backend, control):
    control.add_response("list_model_invocation_jobs", {"invocationJobSummaries": [
        summary("ddddddddddd1", "media-job-1", token="other")]})
    assert backend.find_batch_job(name="media-job-1", client_token="tok-1234abcd") is None


def test_find_batch_job_needs_a_name_or_token(backend, control, calls):
    with pytest.raises(ValidationError):
        backend.find_batch_job()
    assert_no_call_was_possible(control, backend.control_client, calls)


@pytest.mark.parametrize("identifier", [JOB_ID, JOB_ARN])
def test_stop_batch_job_sends_the_identifier(backend, control, identifier):
    control.add_response("stop_model_invocation_job", {}, expected_params={"jobIdentifier": identifier})
    assert backend.stop_batch_job(identifier) is None


ERROR_CASES = [
    ("ThrottlingException", 429, ThrottlingError, True),
    ("ServiceQuotaExceededException", 400, QuotaExceededError, True),
    ("ValidationException", 400, ValidationError, False),
    ("ResourceNotFoundException", 404, NotFoundError, False),
    ("AccessDeniedException", 403, AccessDeniedError, False),
    ("ConflictException", 409, ConflictError, False),
    ("InternalServerException", 500, TransientServiceError, True),
]

CONTROL_CALLS = {
    "create_model_invocation_job": lambda b: b.create_batch_job(**CREATE_ARGS),
    "get_model_invocation_job": lambda b: b.get_batch_job(JOB_ID),
    "list_model_invocation_jobs": lambda b: list(b.list_batch_jobs()),
    "stop_model_invocation_job": lambda b: b.stop_batch_job(JOB_ARN),
}


@pytest.mark.parametrize("method", list(CONTROL_CALLS))
@pytest.mark.parametrize("code,status,error_class,transient", ERROR_CASES)
def test_control_plane_errors_map_to_typed_inference_errors(backend, control, method, code, status,
                                                            error_class, transient):
    control.add_client_error(method, service_error_code=code, service_message=f"bedrock says {code}",
                             http_status_code=status)

    with pytest.raises(error_class) as err:
        CONTROL_CALLS[method](backend)

    assert type(err.value) is error_class
    assert (err.value.code, err.value.transient, err.value.http_status) == (code, transient, status)
    assert f"bedrock says {code}" in err.value.message
    assert SECRET not in str(err.value) and "AKIAFAKE" not in str(err.value)


@pytest.mark.parametrize("code,status,error_class,transient", [
    ("SomethingNew", 503, TransientServiceError, True),
    ("SomethingNew", 429, ThrottlingError, True),
    ("TooManyRequestsException", 429, ThrottlingError, True),
    ("SomethingNew", 400, InferenceError, False),
    ("ExpiredTokenException", 403, AccessDeniedError, False),
])
def test_unlisted_error_codes_are_classified_by_http_status(backend, control, code, status, error_class,
                                                           transient):
    control.add_client_error("get_model_invocation_job", service_error_code=code, http_status_code=status)
    with pytest.raises(InferenceError) as err:
        backend.get_batch_job(JOB_ID)
    assert type(err.value) is error_class
    assert err.value.transient is transient


def test_invoke_round_trips_the_request_and_response_bodies(backend, runtime):
    request = {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}],
               "inferenceConfig": {"maxTokens": 64}}
    answer = {"output": {"message": {"role": "assistant", "content": [{"text": "{\"text\": \"ok\"}"}]}},
              "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}}
    payload = json.dumps(answer).encode()
    runtime.add_response("invoke_model", {"body": streaming(payload), "contentType": "application/json"},
                         expected_params={"modelId": MODEL_ID, "body": json.dumps(request),
                                          "contentType": "application/json", "accept": "application/json"})

    assert backend.invoke(MODEL_ID, request) == answer


@pytest.mark.parametrize("code,status,error_class,transient", [
    ("ModelTimeoutException", 408, TransientServiceError, True),
    ("ModelNotReadyException", 429, TransientServiceError, True),
    ("ServiceUnavailableException", 503, TransientServiceError, True),
    ("ThrottlingException", 429, ThrottlingError, True),
    ("ModelErrorException", 424, InferenceError, False),
    ("ValidationException", 400, ValidationError, False),
    ("AccessDeniedException", 403, AccessDeniedError, False),
])
def test_invoke_errors_map_to_typed_inference_errors(backend, runtime, code, status, error_class, transient):
    runtime.add_client_error("invoke_model", service_error_code=code, service_message="model said no",
                             http_status_code=status)
    with pytest.raises(InferenceError) as err:
        backend.invoke(MODEL_ID, {"messages": []})
    assert type(err.value) is error_class
    assert (err.value.code, err.value.transient) == (code, transient)
    assert "model said no" in str(err.value)


def test_invoke_rejects_a_body_that_is_not_json(backend, runtime):
    runtime.add_response("invoke_model", {"body": streaming(b"<html>oops"), "contentType": "text/html"})
    with pytest.raises(InferenceError) as err:
        backend.invoke(MODEL_ID, {"messages": []})
    assert err.value.code == "InvalidResponseBody"
    assert not err.value.transient


@pytest.mark.parametrize("exc", [
    ReadTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    ConnectTimeoutError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    EndpointConnectionError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
    ConnectionClosedError(endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com"),
])
def test_network_failures_become_transient_service_errors(fresh_backend, exc):
    raised = []

    def fail(**kwargs):
        raised.append(exc)
        raise exc

    # before-call is the last hook before the request is signed and sent, so nothing leaves the machine.
    fresh_backend.runtime_client.meta.events.register_first("before-call.bedrock-runtime.InvokeModel", fail)
    with pytest.raises(TransientServiceError) as err:
        fresh_backend.invoke(MODEL_ID, {"messages": []})
    assert raised == [exc]
    assert err.value.transient
    assert err.value.code == type(exc).__name__
    assert SECRET not in str(err.value)


def test_missing_credentials_become_access_denied(fresh_backend):
    def fail(**kwargs):
        raise NoCredentialsError()

    fresh_backend.control_client.meta.events.register_first("before-call.bedrock.GetModelInvocationJob", fail)
    with pytest.raises(AccessDeniedError) as err:
        fresh_backend.get_batch_job(JOB_ID)
    assert err.value.code == "NoCredentialsError"
    assert not err.value.transient


def test_job_id_from_arn_accepts_arns_and_bare_ids_only():
    assert job_id_from_arn(JOB_ARN) == JOB_ID
    assert job_id_from_arn("arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:model-invocation-job/"
                           "zzzzzzzzzzzz") == "zzzzzzzzzzzz"
    assert job_id_from_arn(JOB_ID) == JOB_ID
    with pytest.raises(ValidationError):
        job_id_from_arn("arn:aws:bedrock:us-east-1:123456789012:custom-model/abc123def456")
