from __future__ import annotations

import http.server
import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gitops.errors import ConfigError
from prefect_gitops.prefect.api import (
    MAX_PAGE_SIZE,
    RETRY_AFTER_CAP,
    RETRY_AFTER_RUN_BUDGET,
    RETRY_WAIT_BUDGET,
    ApiClient,
    ApiError,
    Throttle,
    Verdict,
    is_write,
    summarize_error_body,
    verdict_of,
)
from prefect_gitops.prefect.settings import Settings
from tests.prefect_server import RunningServer

KEY = "pnu_TOPSECRETkey0123456789abcdef"
BASE = "http://prefect.test:4200/api"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def no_real_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must never reach a real network: only MockTransport may answer."""
    if request.node.get_closest_marker("server") is not None:
        return

    def refuse(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a unit test tried to reach the network: {request.url}")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)


class Recorder:
    """A MockTransport handler that answers from a script and records requests and sleeps."""

    def __init__(self, *responses: httpx.Response | Exception | Handler) -> None:
        self.script = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def client(self, **settings: Any) -> ApiClient:
        values: dict[str, Any] = {"api_url": BASE, "api_key": KEY, **settings}
        return ApiClient(
            Settings(**values),
            transport=httpx.MockTransport(self),
            sleep=self.sleeps.append,
            rng=random.Random(7),
        )


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def assert_one_line_without_secrets(err: ApiError) -> None:
    for text in (str(err), repr(err), err.message, err.detail, err.hint or ""):
        assert "\n" not in text
        assert KEY not in text


def test_503_then_200_is_retried() -> None:
    pool = {"id": "7c1d", "name": "p"}
    rec = Recorder(answer(503, {"exception_message": "Service Unavailable"}), answer(200, pool))
    with rec.client() as client:
        assert client.post("/work_pools/", json={"name": "p"}) == pool
        assert client.request_count == 2
        assert client.write_count == 2
    assert len(rec.sleeps) == 1
    assert 0 <= rec.sleeps[0] <= 0.5


def test_persistent_500_gives_one_error_without_retrying() -> None:
    rec = Recorder(answer(500, {"exception_message": "Internal Server Error"}))
    client = rec.client()
    with pytest.raises(ApiError) as info:
        client.get("/work_pools/p")
    err = info.value
    assert len(rec.requests) == 1
    assert rec.sleeps == []
    assert (err.method, err.status, err.detail) == ("GET", 500, "Internal Server Error")
    assert err.url == f"{BASE}/work_pools/p"
    assert str(err) == f"GET {BASE}/work_pools/p HTTP 500: Internal Server Error"
    assert_one_line_without_secrets(err)


def test_persistent_503_gives_up_after_max_retries_with_growing_backoff() -> None:
    rec = Recorder(answer(503, {"exception_message": "Service Unavailable"}))
    with pytest.raises(ApiError) as info:
        rec.client(max_retries=4).post("/variables/", json={"name": "v", "value": 1})
    assert info.value.status == 503
    assert len(rec.requests) == 5
    assert len(rec.sleeps) == 4
    for attempt, delay in enumerate(rec.sleeps):  # full jitter: uniform(0, 0.5 * 2**n)
        assert 0 <= delay <= 0.5 * 2**attempt


def test_429_honours_retry_after_seconds_and_dates_up_to_a_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    rec = Recorder(
        answer(429, {"detail": "slow down"}, {"Retry-After": "7"}),
        answer(429, {"detail": "slow down"}, {"Retry-After": later}),
        answer(200, {"id": "f", "name": "x"}),
    )
    assert rec.client().get("/flows/x") == {"id": "f", "name": "x"}
    assert rec.sleeps[0] == 7
    assert 5 < rec.sleeps[1] <= 10
    waits = [r.getMessage() for r in caplog.records if r.name == "prefect_gitops.prefect.api"]
    assert len(waits) == 2 and "HTTP 429; waiting 7s before retrying" in waits[0]


def test_retry_after_60_on_every_answer_is_capped_reported_and_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder(answer(429, {"detail": "slow down"}, {"Retry-After": "60"}))
    with pytest.raises(ApiError) as info:
        rec.client(max_retries=50).post("/work_pools/filter", json={})
    assert rec.sleeps == [RETRY_AFTER_CAP] * int(RETRY_WAIT_BUDGET // RETRY_AFTER_CAP)
    assert sum(rec.sleeps) <= RETRY_WAIT_BUDGET
    assert info.value.status == 429
    assert "asked to retry after 60s" in str(info.value)
    assert f"gave up after {sum(rec.sleeps):.0f}s of waiting" in str(info.value)
    notices = [r for r in caplog.records if r.name == "prefect_gitops.prefect.api"]
    assert len(notices) == len(rec.sleeps)
    assert all(r.levelname == "WARNING" and "waiting 10s" in r.getMessage() for r in notices)


def test_retry_after_waits_of_a_whole_run_are_capped() -> None:
    """Retry-After: 60 on every write of an apply: each request gives up after
    RETRY_WAIT_BUDGET, but 24 of them stalled the run for minutes; the client's waits on
    the server's request are capped in all, and past the cap such answers fail at once."""
    rec = Recorder(answer(503, {"detail": "busy"}, {"Retry-After": "60"}))
    client = rec.client(max_retries=50)
    errors = []
    for n in range(24):
        with pytest.raises(ApiError) as info:
            client.post("/work_pools/", json={"name": f"p{n}"})
        errors.append(str(info.value))
    assert sum(rec.sleeps) <= RETRY_AFTER_RUN_BUDGET
    assert len(rec.sleeps) == int(RETRY_AFTER_RUN_BUDGET // RETRY_AFTER_CAP)
    assert "this run already waited 60s as servers asked" in errors[-1]
    assert "asked to retry after 60s" in errors[-1]


def test_retry_waits_never_exceed_the_wall_clock_deadline() -> None:
    # The clock advances by the sleeps: waits stop before the request's deadline passes.
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    def slow(request: httpx.Request) -> httpx.Response:
        now[0] += 9.0  # each attempt takes 9 s of the 10 s timeout
        return answer(503, {"detail": "busy"}, {"Retry-After": "5"})

    client = ApiClient(
        Settings(api_url=BASE, timeout=10.0, max_retries=100),
        transport=httpx.MockTransport(slow),
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(ApiError, match="HTTP 503"):
        client.get("/work_pools/p")
    assert now[0] <= 10.0 + RETRY_WAIT_BUDGET + 9.0
    assert sum(sleeps) <= RETRY_WAIT_BUDGET


def test_502_and_504_are_retried_only_when_safe_to_repeat() -> None:
    rec = Recorder(answer(502), answer(504), answer(200, []))
    assert rec.client().post("/deployments/filter", json={}) == []
    assert len(rec.requests) == 3

    rec = Recorder(answer(502), answer(200, {}))
    with pytest.raises(ApiError, match="HTTP 502"):
        rec.client().post("/work_pools/", json={"name": "p"})  # a create is never sent twice
    assert len(rec.requests) == 1


def test_connection_errors_are_retried_then_explained() -> None:
    rec = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(ApiError) as info:
        rec.client(max_retries=2).get("/health")
    err = info.value
    assert len(rec.requests) == 3
    assert err.status is None
    assert str(err) == f"GET {BASE}/health failed: cannot connect: [Errno 111] Connection refused"
    assert err.hint is not None
    assert "running" in err.hint
    assert_one_line_without_secrets(err)

    rec = Recorder(httpx.ConnectError("refused"), answer(200, {"id": "7c1d", "name": "p"}))
    assert rec.client().post("/work_pools/", json={}) == {"id": "7c1d", "name": "p"}


def test_read_errors_after_sending_a_create_are_not_retried() -> None:
    rec = Recorder(httpx.ReadError("connection reset"), answer(201, {}))
    with pytest.raises(ApiError, match="connection reset"):
        rec.client().post("/work_pools/", json={"name": "p"})
    assert len(rec.requests) == 1

    rec = Recorder(httpx.ReadTimeout("timed out"), answer(200, []))
    assert rec.client().post("/work_pools/filter", json={}) == []


def test_auth_headers_and_key_never_shown() -> None:
    echo = answer(401, {"detail": f"Invalid API key {KEY}\nplease check"})
    rec = Recorder(echo)
    client = rec.client()
    with pytest.raises(ApiError) as info:
        client.get("/me")
    assert rec.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert info.value.detail == "Invalid API key *** please check"
    assert_one_line_without_secrets(info.value)
    assert KEY not in repr(client)

    rec = Recorder(answer(200, {}))
    basic = rec.client(api_key=None, auth_string="admin:s3cret")
    basic.get("/health")
    assert rec.requests[0].headers["Authorization"] == "Basic YWRtaW46czNjcmV0"


def test_cloud_url_shape_is_joined_correctly() -> None:
    cloud = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1"
    rec = Recorder(answer(200, []))
    rec.client(api_url=cloud).post("/work_pools/filter", json={})
    assert str(rec.requests[0].url) == f"{cloud}/work_pools/filter"


def test_redirect_says_where_to_point() -> None:
    rec = Recorder(httpx.Response(308, headers={"Location": "https://prefect.test/api/flows/x"}))
    with pytest.raises(ApiError, match="HTTP 308") as info:
        rec.client().get("/flows/x")
    assert info.value.hint == (
        "the server redirects to https://prefect.test/api/flows/x; point PREFECT_API_URL there"
    )


def test_credentials_in_the_url_are_redacted() -> None:
    rec = Recorder(answer(404, {"detail": "Not Found"}))
    with pytest.raises(ApiError) as info:
        rec.client(api_url="http://user:pw@prefect.test/api").get("/flows/x")
    assert info.value.url == "http://***@prefect.test/api/flows/x"
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": 'Work pool "x" not found.'}, 'Work pool "x" not found.'),
        (
            {
                "exception_message": "Invalid request received.",
                "exception_detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", "type"],
                        "msg": "Extra inputs are not permitted",
                    },
                    {"type": "missing", "loc": ["body", "name"], "msg": "Field required"},
                ],
                "request_body": {"type": "docker", "secret": KEY},
            },
            "Invalid request received.: type: Extra inputs are not permitted; name: Field required",
        ),
        (
            {
                "exception_message": "Bad",
                "exception_detail": [{"loc": ["body", "a", 0], "msg": "x"}] * 5,
            },
            "Bad: a.0: x; a.0: x; a.0: x; (+2 more)",
        ),
        ({"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}, "query.limit: too big"),
        ({"exception_message": "Service Unavailable"}, "Service Unavailable"),
        ("plain\ntext  body", "plain text body"),
    ],
)
def test_error_body_shapes_are_summarised_in_one_line(body: Any, expected: str) -> None:
    assert summarize_error_body(body) == expected


def test_422_pydantic_error_through_the_client() -> None:
    body = {
        "exception_message": "Invalid request received.",
        "exception_detail": [{"loc": ["body", "type"], "msg": "Extra inputs are not permitted"}],
        "request_body": {"api_key": KEY},
    }
    rec = Recorder(answer(422, body))
    with pytest.raises(ApiError) as info:
        rec.client().patch("/work_pools/p", json={"type": "docker"})
    assert str(info.value) == (
        f"PATCH {BASE}/work_pools/p HTTP 422: Invalid request received.: type: Extra inputs are not permitted"
    )
    assert info.value.body == body
    assert_one_line_without_secrets(info.value)


def test_non_json_error_body_and_empty_success() -> None:
    rec = Recorder(httpx.Response(502, text="<html>\n<b>Bad Gateway</b></html>"))
    with pytest.raises(ApiError, match=r"HTTP 502: <html> <b>Bad Gateway</b></html>$"):
        rec.client(max_retries=0).get("/x")
    rec = Recorder(httpx.Response(204))
    assert rec.client().patch("/work_pools/p", json={}) is None


def test_allow_returns_none_and_sets_last_status() -> None:
    rec = Recorder(answer(404, {"detail": "nope"}), answer(200, {"id": "1", "name": "p"}))
    client = rec.client()
    assert client.get("/work_pools/p", allow=(404,)) is None
    assert client.last_status == 404
    assert client.get("/work_pools/p", allow=(404,)) == {"id": "1", "name": "p"}
    assert client.last_status == 200


def test_write_counter_ignores_read_only_posts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/count"):
            return answer(200, 0)
        if request.url.path.endswith("/work_pools/"):
            return answer(200, {"id": "1", "name": "p"})
        return answer(200, [])

    rec = Recorder(handler)
    client = rec.client()
    client.post("/work_pools/filter", json={})
    client.post("/deployments/count", json={})
    client.post("/work_pools/p/get_scheduled_flow_runs", json={})
    client.get("/health")
    assert (client.request_count, client.write_count) == (4, 0)
    client.post("/work_pools/", json={})
    client.patch("/work_pools/p", json={})
    client.delete("/work_pools/p")
    client.put("/x", json={})
    assert (client.request_count, client.write_count) == (8, 4)
    assert is_write("POST", "/deployments/") and not is_write("POST", "/flows/filter/")


def paging_server(total: int) -> Recorder:
    items = [{"id": str(i), "name": f"v{i}"} for i in range(total)]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        limit, offset = body["limit"], body["offset"]
        if limit > MAX_PAGE_SIZE:
            return answer(422, {"detail": "Invalid limit: must be less than or equal to 200."})
        assert body["variables"] == {"name": {"like_": "x"}}
        return answer(200, items[offset : offset + limit])

    return Recorder(handler)


@pytest.mark.parametrize(("total", "requests"), [(0, 1), (199, 1), (200, 2), (450, 3)])
def test_paginate(total: int, requests: int) -> None:
    rec = paging_server(total)
    client = rec.client()
    items = client.paginate("/variables/filter", {"variables": {"name": {"like_": "x"}}})
    assert items == [{"id": str(i), "name": f"v{i}"} for i in range(total)]
    assert len(rec.requests) == requests


def test_paginate_rejects_pages_larger_than_the_server_allows() -> None:
    with pytest.raises(ValueError, match="page_size"):
        paging_server(1).client().paginate("/variables/filter", page_size=500)


def test_paginate_rejects_a_non_list_answer() -> None:
    rec = Recorder(answer(200, {"not": "a list"}))
    with pytest.raises(ApiError, match="Input should be a valid list"):
        rec.client().paginate("/variables/filter")
    rec = Recorder(answer(200, {"not": "a list"}))
    with pytest.raises(ApiError, match="expected a JSON list"):
        rec.client().paginate("/some/other/filter")


# -- against a real Prefect server ---------------------------------------------------------


@pytest.fixture
def live(prefect_server: RunningServer) -> Iterator[ApiClient]:
    with ApiClient(Settings(api_url=prefect_server.url)) as client:
        yield client


class EncodingSpy(httpx.HTTPTransport):
    """The real network transport, noting each response's Content-Encoding."""

    def __init__(self) -> None:
        super().__init__()
        self.encodings: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.encodings.append(response.headers.get("Content-Encoding"))
        return response


@pytest.mark.server
def test_real_server_answers_a_loopback_client_uncompressed(prefect_server: RunningServer) -> None:
    """Prefect's GZipMiddleware compresses any response over 500 bytes for a client that
    accepts gzip; ours does not ask on loopback, so a large read arrives as it is."""
    spy = EncodingSpy()
    with ApiClient(Settings(api_url=prefect_server.url), transport=spy) as client:
        schema = client.get("/collections/views/aggregate-worker-metadata")
    assert len(json.dumps(schema)) > 500 and spy.encodings == [None]
    with httpx.Client() as plain:  # the same read with httpx's defaults is compressed
        compressed = plain.get(prefect_server.url + "/collections/views/aggregate-worker-metadata")
    assert compressed.headers.get("Content-Encoding") == "gzip"


@pytest.mark.server
def test_real_create_read_and_errors(live: ApiClient) -> None:
    name = f"api-test-{uuid.uuid4().hex[:8]}"
    created = live.post("/variables/", json={"name": name, "value": {"a": 1}, "tags": ["t"]})
    assert created["name"] == name
    assert live.get(f"/variables/name/{name}")["value"] == {"a": 1}

    with pytest.raises(ApiError) as conflict:
        live.post("/variables/", json={"name": name, "value": 2})
    assert conflict.value.status == 409
    assert (
        conflict.value.detail
    )  # the server's own words, e.g. 'A variable with the name ... already exists.'
    assert name in conflict.value.detail

    with pytest.raises(ApiError) as missing:
        live.get(f"/work_pools/{name}-missing")
    assert missing.value.status == 404
    assert missing.value.detail == f'Work pool "{name}-missing" not found.'
    assert str(missing.value) == (
        f'GET {live.base_url}/work_pools/{name}-missing HTTP 404: Work pool "{name}-missing" not found.'
    )

    with pytest.raises(ApiError) as invalid:
        live.post("/work_pools/", json={"name": name, "type": "process", "bogus": 1})
    assert invalid.value.status == 422
    assert (
        invalid.value.detail == "Invalid request received.: bogus: Extra inputs are not permitted"
    )

    with pytest.raises(ApiError) as too_big:
        live.post("/work_pools/filter", json={"limit": 500})
    assert too_big.value.detail == "Invalid limit: must be less than or equal to 200."
    assert live.get(f"/variables/name/{name}-missing", allow=(404,)) is None
    assert live.last_status == 404


@pytest.mark.server
def test_real_pagination_beyond_one_page(live: ApiClient) -> None:
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    names = [f"{prefix}{i:03d}" for i in range(230)]
    for name in names:
        live.post("/variables/", json={"name": name, "value": 1})
    try:
        before = live.request_count
        body = {"variables": {"name": {"like_": prefix}}, "sort": "NAME_ASC"}
        found = live.paginate("/variables/filter", body)
        assert [v["name"] for v in found] == names
        assert live.request_count - before == 2
        assert live.paginate("/variables/filter", body, page_size=100) == found
    finally:  # the session server is shared: leave no crowd of variables behind
        for name in names:
            live.delete(f"/variables/name/{name}", allow=(404,))


def test_counters_are_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rec = Recorder(answer(200, {}))
    client = rec.client()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: client.patch(f"/work_pools/p{i}", json={}), range(200)))
    assert (client.request_count, client.write_count) == (200, 200)


def test_missing_ca_bundle_is_a_config_error(tmp_path: Any) -> None:
    from prefect_gitops.errors import ConfigError

    settings = Settings(api_url="https://x/api", ssl_cert_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="PREFECT_API_SSL_CERT_FILE"):
        ApiClient(settings)


def test_no_url_is_a_config_error() -> None:
    from prefect_gitops.errors import ConfigError

    with pytest.raises(ConfigError, match="no Prefect API URL"):
        ApiClient(Settings(api_url=None))


def test_embedded_server_connection_hint() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(ApiError) as info:
        rec.client(source="embedded", max_retries=0).get("/health")
    assert info.value.hint is not None
    assert "prefect-gitops server status" in info.value.hint


# -- a hostile or broken server --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("POST", "/work_pools/filter", [None], "0: Input should be a valid dictionary"),
        ("POST", "/deployments/filter", [{"id": "d", "name": 5, "flow_id": "f"}], "0.name"),
        ("POST", "/deployments/filter", [{"id": "d", "name": "n"}], "0.flow_id: Field required"),
        ("POST", "/deployments/", {}, "id: Field required"),
        ("POST", "/variables/", {"name": "v"}, "id: Field required"),
        ("POST", "/deployments/count", "12", "Input should be a valid integer"),
        ("POST", "/deployments/count", -1, "greater than or equal to 0"),
        ("GET", "/work_pools/p", {"id": "p", "name": "p", "base_job_template": []}, "base_job"),
        ("POST", "/flows/filter", {"id": "f", "name": "x"}, "valid list"),
        ("POST", "/deployments/", None, "unexpected answer (nothing)"),
        (
            "POST",
            "/deployments/filter",
            [{"id": "d", "name": "n", "flow_id": "f", "schedules": [{"id": "s"}]}],
            "0.schedules.0.schedule: Field required",
        ),
        ("POST", "/work_pools/p/workers/filter", [{"status": "ONLINE"}], "0.name"),
    ],
)
def test_odd_answer_shapes_are_one_error_naming_the_endpoint(
    method: str, path: str, body: Any, expected: str
) -> None:
    rec = Recorder(answer(200, body) if body is not None else httpx.Response(200))
    with pytest.raises(ApiError) as info:
        rec.client().request(method, path, json={})
    err = info.value
    assert str(err).startswith(f"{method} {BASE}{path} HTTP 200: unexpected answer")
    assert expected in str(err)
    assert err.hint is not None and "Prefect 3 API" in err.hint
    assert_one_line_without_secrets(err)


def test_answers_of_the_right_shape_pass_unchanged() -> None:
    deployment = {"id": "d", "name": "n", "flow_id": "f", "tags": ["a"], "extra": {"x": 1}}
    rec = Recorder(answer(200, [deployment]))
    assert rec.client().post("/deployments/filter", json={}) == [deployment]


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0.0, -1.0, 1e20, 1e10])
def test_an_unusable_timeout_is_a_config_error(timeout: float) -> None:
    with pytest.raises(ConfigError, match="PREFECT_API_REQUEST_TIMEOUT"):
        ApiClient(Settings(api_url=BASE, timeout=timeout))


class TricklingServer:
    """A 127.0.0.1 HTTP server sending one byte every `interval` seconds (bounded): only the
    body (`whole=False`), or the whole answer from its status line on (`whole=True`)."""

    def __init__(self, *, whole: bool, interval: float = 2.0, max_bytes: int = 30) -> None:
        self.whole = whole
        self.interval = interval
        self.max_bytes = max_bytes
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/api"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.listener.settimeout(10)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {self.max_bytes}\r\n\r\n".encode()
        )
        with conn:
            conn.recv(65536)
            if not self.whole:
                conn.sendall(head)
            trickled = (head if self.whole else b"") + b" " * self.max_bytes
            for byte in trickled[: self.max_bytes]:
                if self.stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def __enter__(self) -> TricklingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.mark.parametrize("whole", [False, True], ids=["body", "status-line-and-headers"])
def test_a_trickling_answer_is_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    monkeypatch.undo()  # this test talks only to its own server on 127.0.0.1
    with TricklingServer(whole=whole) as server:
        settings = Settings(api_url=server.url, timeout=3.0, max_retries=0)
        started = time.monotonic()
        with ApiClient(settings) as client, pytest.raises(ApiError) as info:
            client.post("/work_pools/filter", json={})
        elapsed = time.monotonic() - started
    # httpx's per-read timeout (3 s) never fires: a byte arrives every 2 s.
    assert elapsed < 6
    assert info.value.status is None
    assert "did not arrive in full within 3s" in str(info.value)


# -- the commands against a hostile server on 127.0.0.1 ---------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Route = Callable[[str, str], tuple[int, Any]]


def _serve(route: Route) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            path = self.path.split("?", 1)[0].removeprefix("/api")
            status, body = route(self.command, path)
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/api"


def _reads(odd: Any) -> Route:
    def route(method: str, path: str) -> tuple[int, Any]:
        if path.endswith("/count"):
            return 200, 0
        if path == "/health":
            return 200, True
        if (method == "POST" and path.endswith("/filter")) or method == "GET":
            return 200, odd
        return 404, {"detail": "not found"}

    return route


@pytest.mark.parametrize("odd", [[None], [{"id": "x"}], {"x": 1}, [{"id": "d", "name": 5}], "[]"])
@pytest.mark.parametrize("command", ["plan", "export", "doctor"])
def test_odd_shapes_are_one_error_naming_the_endpoint_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, odd: Any
) -> None:
    from tests.run_cli import run_cli

    monkeypatch.undo()  # these tests talk only to their own server on 127.0.0.1
    server, url = _serve(_reads(odd))
    try:
        args = {
            "plan": ["plan", str(EXAMPLES / "quickstart")],
            "export": ["export", str(tmp_path / "out")],
            "doctor": ["doctor", str(EXAMPLES / "quickstart")],
        }[command]
        result = run_cli(*args, env={"PREFECT_API_URL": url, "PREFECT_CLIENT_MAX_RETRIES": "0"})
    finally:
        server.shutdown()
        server.server_close()
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    assert "crashed" not in output and "Traceback" not in output
    assert f"{url}/" in output and "HTTP 200: unexpected answer" in output


def test_a_create_answering_200_empty_is_an_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.run_cli import run_cli

    monkeypatch.undo()

    def route(method: str, path: str) -> tuple[int, Any]:
        if path.endswith("/count"):
            return 200, 0
        if method == "POST" and path.endswith("/filter"):
            return 200, []
        if method == "POST" and path == "/variables/":  # the apply lock
            return 201, {"id": "lock", "name": "lock", "value": "x"}
        if method == "POST":
            return 200, {}
        if method == "GET":
            return 404, {"detail": "not found"}
        return 204, None

    server, url = _serve(route)
    try:
        result = run_cli(
            "apply",
            str(EXAMPLES / "quickstart"),
            "--auto-approve",
            env={"PREFECT_API_URL": url, "PREFECT_CLIENT_MAX_RETRIES": "0"},
        )
    finally:
        server.shutdown()
        server.server_close()
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    assert "crashed" not in output
    assert (
        f"POST {url}/work_pools/ HTTP 200: unexpected answer (dict): id: Field required" in output
    )


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf", "0", "99999999999999999999"])
def test_an_unusable_timeout_from_the_environment_is_exit_1(timeout: str) -> None:
    from tests.run_cli import run_cli

    env = {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_API_REQUEST_TIMEOUT": timeout}
    result = run_cli("plan", str(EXAMPLES / "quickstart"), env=env)
    assert result.exit_code == 1, result.stderr
    assert "PREFECT_API_REQUEST_TIMEOUT" in result.stderr and "crashed" not in result.stderr


def test_proxied_connections_get_the_deadline_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect_gitops.prefect.api import _DeadlineBackend

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    client = ApiClient(Settings(api_url=BASE))
    transports = [client._client._transport, *client._client._mounts.values()]
    pools = [getattr(t, "_pool", None) for t in transports if t is not None]
    assert len(pools) >= 2  # the direct one and the proxy's
    assert all(isinstance(p._network_backend, _DeadlineBackend) for p in pools)


@pytest.mark.parametrize(
    ("command", "form"),
    [("plan", ["--format", "json"]), ("plan", ["--format=json"]), ("apply", ["--format", "json"])],
)
def test_an_api_error_keeps_the_json_contract(
    monkeypatch: pytest.MonkeyPatch, command: str, form: list[str]
) -> None:
    from tests.run_cli import run_cli

    monkeypatch.undo()  # a closed port on 127.0.0.1 refuses: no other network is involved
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    extra = ["--auto-approve"] if command == "apply" else []
    env = {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_CLIENT_MAX_RETRIES": "0"}
    result = run_cli(command, str(EXAMPLES / "quickstart"), *extra, *form, env=env)
    assert result.exit_code == 1
    (diagnostic,) = result.json()["diagnostics"]
    assert diagnostic["severity"] == "error" and "cannot connect" in diagnostic["message"]
    assert "Error: " in result.stderr  # the text stays on stderr


@pytest.mark.parametrize(
    ("url", "trusts_proxies"),
    [
        ("http://127.0.0.1:4200/api", False),
        ("http://127.0.0.2:4200/api", False),
        ("http://[::1]:4200/api", False),
        ("http://LOCALHOST:4200/api", False),
        ("https://prefect.example.com/api", True),
        ("http://127.0.0.1.example.com/api", True),
    ],
)
def test_proxy_settings_never_capture_a_loopback_server(url: str, trusts_proxies: bool) -> None:
    """One loopback rule for the whole project (`settings.is_loopback_url`): the client that
    ignores HTTP_PROXY and friends agrees with the environments' loopback check."""
    with ApiClient(Settings(api_url=url)) as client:
        assert client._client.trust_env is trusts_proxies


@pytest.mark.parametrize(
    ("url", "encoding"),
    [("http://127.0.0.1:4200/api", "identity"), ("https://prefect.example.com/api", None)],
)
def test_a_loopback_server_is_asked_not_to_compress(url: str, encoding: str | None) -> None:
    """Compressing costs a local server's CPU and saves no time on loopback; a remote
    server keeps httpx's default (gzip and friends: fewer bytes on a real network)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    with ApiClient(Settings(api_url=url), transport=httpx.MockTransport(answer)) as client:
        client.get("/some/other/thing")
    asked = seen[0].headers.get("Accept-Encoding")
    assert asked == encoding if encoding else "gzip" in (asked or "")


# -- the write throttle ----------------------------------------------------------------------

LOCKED = {"exception_message": "Service Unavailable"}  # Prefect's 503 for a locked SQLite


class ConcurrencyProbe:
    """A MockTransport handler that notes how many requests are inside it at each arrival."""

    def __init__(
        self,
        answer_with: Callable[[int], httpx.Response],
        latency: float,
        throttle: Throttle | None = None,
    ) -> None:
        self.answer_with = answer_with
        self.latency = latency
        self.throttle = throttle
        self.active = 0
        self.arrivals: list[int] = []  # requests inside, this one included, in arrival order
        self.first_contended: int | None = None  # arrival index when the throttle knew
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.active += 1
            self.arrivals.append(self.active)
            number = len(self.arrivals)
            if self.first_contended is None and self.throttle and self.throttle.contended:
                self.first_contended = number - 1
        try:
            time.sleep(self.latency)
            return self.answer_with(number)
        finally:
            with self._lock:
                self.active -= 1


def write_concurrently(client: ApiClient, threads: int, each: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        for i in range(each):
            try:
                client.post("/variables/", json={"name": f"v{t}-{i}", "value": i})
            except ApiError as exc:
                errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    return errors


def probe_client(probe: ConcurrencyProbe, throttle: Throttle) -> ApiClient:
    return ApiClient(
        Settings(api_url=BASE, max_retries=8),
        transport=httpx.MockTransport(probe),
        sleep=lambda s: None,
        throttle=throttle,
    )


@pytest.mark.parametrize(
    "locked",
    [
        answer(503, LOCKED),
        answer(503, {"detail": "(sqlite3.OperationalError) database is locked"}),
        answer(503, "database is locked"),
    ],
    ids=["prefect-503", "detail-text", "plain-text"],
)
def test_a_locked_database_leaves_one_write_in_flight_for_good(locked: httpx.Response) -> None:
    # The first writes meet a lock; everything after succeeds, which must not bring the
    # concurrency back up (the old throttle grew back after a few successes, and flapped).
    throttle = Throttle(8)
    probe = ConcurrencyProbe(
        lambda n: locked if n <= 3 else answer(201, {"id": "x"}), 0.003, throttle
    )
    with probe_client(probe, throttle) as client:
        assert write_concurrently(client, threads=8, each=12) == []
    assert throttle.contended and (throttle.limit, throttle.ceiling) == (1, 1)
    # The writes that took a slot before the lock came (7 at most besides the locked one)
    # finish; every later one is alone.
    assert probe.first_contended is not None
    later = probe.arrivals[probe.first_contended + 7 :]
    assert len(later) > 60 and set(later) == {1}, probe.arrivals
    assert len(probe.arrivals) == 8 * 12 + 3


def test_latency_without_errors_keeps_every_thread_writing() -> None:
    all_in = threading.Barrier(8, timeout=10)

    def answer_with(number: int) -> httpx.Response:
        if number <= 8:
            all_in.wait()  # only passes when 8 writes are in flight at once
        return answer(201, {"id": "x"})

    probe = ConcurrencyProbe(answer_with, 0.02)
    throttle = Throttle(8)
    with probe_client(probe, throttle) as client:
        assert write_concurrently(client, threads=8, each=5) == []
    assert (throttle.limit, throttle.peak, throttle.contended) == (8, 8, False)
    assert max(probe.arrivals) == 8


def test_push_back_halves_once_per_window_then_grows_to_just_below_the_refused_level() -> None:
    throttle = Throttle(8)
    epochs = [throttle.acquire(1) for _ in range(8)]
    assert throttle.acquire(0.01) is None  # bounded wait: no ninth slot
    throttle.release(epochs[0], Verdict.PUSHBACK)  # 429 with 8 in flight
    assert (throttle.limit, throttle.ceiling) == (4, 7)
    for epoch in epochs[1:]:  # answers to requests sent before the cut cut no further
        throttle.release(epoch, Verdict.PUSHBACK)
    assert (throttle.limit, throttle.ceiling) == (4, 7)
    for _ in range(200):  # additive increase, capped by the ceiling
        epoch = throttle.acquire(1)
        assert epoch is not None
        throttle.release(epoch, Verdict.OK)
    assert throttle.limit == 7


def test_contention_is_never_grown_out_of() -> None:
    throttle = Throttle(16)
    first = throttle.acquire(1)
    assert first is not None
    throttle.release(first, Verdict.CONTENTION)
    for _ in range(500):
        epoch = throttle.acquire(1)
        assert epoch is not None
        throttle.release(epoch, Verdict.OK)
    assert throttle.limit == 1


@pytest.mark.parametrize(
    ("response", "verdict"),
    [
        (answer(503, LOCKED), Verdict.CONTENTION),
        (answer(503, {"detail": "database is locked"}), Verdict.CONTENTION),
        (answer(503, LOCKED, {"Retry-After": "5"}), Verdict.PUSHBACK),
        (answer(503, {"detail": "upstream overloaded"}), Verdict.PUSHBACK),
        (answer(429, {"detail": "slow down"}), Verdict.PUSHBACK),
        (answer(201, {"id": "x"}), Verdict.OK),
        (answer(409, {"detail": "exists"}), Verdict.OK),
        (answer(500, {"exception_message": "Internal Server Error"}), Verdict.NEUTRAL),
        (answer(502), Verdict.NEUTRAL),
    ],
)
def test_verdicts(response: httpx.Response, verdict: Verdict) -> None:
    assert verdict_of(response) is verdict


def test_reads_are_not_gated() -> None:
    throttle = Throttle(1)
    held = throttle.acquire(1)  # the one write slot is taken
    rec = Recorder(answer(200, []))
    client = ApiClient(
        Settings(api_url=BASE), transport=httpx.MockTransport(rec), throttle=throttle
    )
    assert client.post("/variables/filter", json={}) == []
    assert held is not None and throttle.in_flight == 1


def test_waiting_for_a_write_slot_is_bounded_and_reported() -> None:
    throttle = Throttle(1)
    held = throttle.acquire(1)  # a write that never comes back
    rec = Recorder(answer(201, {"id": "x"}))
    client = ApiClient(
        Settings(api_url=BASE, timeout=0.002), transport=httpx.MockTransport(rec), throttle=throttle
    )
    with pytest.raises(ApiError, match=r"no write slot within 0\.128s \(1 in flight\)") as info:
        client.post("/variables/", json={"name": "v", "value": 1})
    assert held is not None and rec.requests == [] and info.value.status is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/deployments/name/work/" + os.fsdecode(b"d\xff"), None),  # argv bytes
        ("POST", "/deployments/d/create_flow_run", {"parameters": {"i": "\ud800"}}),
        ("POST", "/deployments/d/create_flow_run", {"parameters": {"\udc00": 1}}),
    ],
)
def test_text_that_is_not_unicode_is_refused_before_sending(
    method: str, path: str, body: Any
) -> None:
    """A lone surrogate (command-line bytes that are not UTF-8, a `\\ud800` JSON escape) made
    httpx crash encoding the request (exit 3); it is an ApiError naming it, and nothing is sent."""
    rec = Recorder(answer(200, {}))
    with pytest.raises(ApiError, match="not valid Unicode") as caught:
        rec.client().request(method, path, json=body)
    assert rec.requests == []
    str(caught.value).encode("utf-8")  # the message itself prints


def test_an_api_url_that_is_not_unicode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid Unicode"):
        ApiClient(Settings(api_url=BASE + os.fsdecode(b"\xff")))
