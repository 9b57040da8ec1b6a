"""The Prefect REST client: the only module that imports httpx.

One synchronous ``httpx.Client`` (thread-safe: callers may share an ``ApiClient`` across a bounded
thread pool). Every HTTP or transport failure becomes an ``ApiError`` whose ``str()`` is one line
with the method, URL, status and the server's own explanation, and never contains a secret.

Retries (exponential backoff with full jitter, ``Retry-After`` honoured):

- 429 and 503 on every request: the server did not process it (SQLite answers 503 when locked);
- 502 and 504, and connection failures after the request was sent (read errors, timeouts), only
  on requests that are safe to repeat (GET, PATCH, PUT, DELETE and read-only POSTs such as
  ``*/filter``), so that a create is never sent twice;
- failures to connect at all, on every request.

Writes go through a ``Throttle``: how many may be in flight at once, adapted to the server's
push-back (below), whatever number of threads share the client. Reads are not gated.

Every request has a wall-clock budget: one attempt may take at most ``settings.timeout``
seconds in all (httpx's own timeout is per read, so a server sending one byte every few
seconds would otherwise never end), and the waits between attempts add up to at most
``RETRY_WAIT_BUDGET`` seconds. Each wait is logged (a warning, so the user sees why nothing
happens). Every successful answer we read is checked against its shape (``responses``).
"""

from __future__ import annotations

import base64
import email.utils
import enum
import json
import logging
import math
import random
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import httpcore
import httpx

from ..errors import ConfigError, ReconcilerError
from ..version import __version__
from .responses import ShapeError, check_shape
from .settings import Settings, is_loopback_url, redact_url

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 200  # the server's PREFECT_SERVER_API_DEFAULT_LIMIT: larger limits give 422
MAX_PAGES = 10_000  # bounds every pagination loop (2 million objects)
BACKOFF_BASE = 0.5  # seconds; attempt n waits uniform(0, min(BACKOFF_CAP, BASE * 2**n))
BACKOFF_CAP = 10.0
RETRY_AFTER_CAP = 10.0  # seconds; a longer Retry-After is shortened to this
RETRY_WAIT_BUDGET = 20.0  # seconds of waiting between the attempts of one request, in all
# Seconds one client (one command) waits in all because a server asked it to (Retry-After):
# a server asking on every answer would otherwise stall an apply for RETRY_WAIT_BUDGET per
# request, minutes in all. Past it, such answers are failures at once.
RETRY_AFTER_RUN_BUDGET = 60.0
WAIT_NOTICE_AFTER = 1.0  # seconds; shorter waits are not worth a log line
DETAIL_MAX_CHARS = 400
# Longer is "never" in practice, and a socket timeout beyond ~9e9 s overflows (OverflowError).
MAX_REQUEST_TIMEOUT = 7 * 24 * 3600.0

_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PATCH", "PUT", "DELETE"})
_READ_ONLY_POST_SUFFIXES = (
    "/filter",
    "/count",
    "/paginate",
    "/get_scheduled_flow_runs",
    "/history",
)
_ALWAYS_RETRY_STATUSES = frozenset({429, 503})
_IDEMPOTENT_RETRY_STATUSES = frozenset({502, 504})
# What Prefect's server answers for a retryable database error (`custom_internal_exception_handler`):
# on SQLite, "database is locked"/SQLITE_BUSY, which the body does not say.
_PREFECT_DB_RETRYABLE_BODY = {"exception_message": "Service Unavailable"}
_DB_CONTENTION_WORDS = ("database is locked", "sqlite_busy", "database is busy")
MAX_IN_FLIGHT = 64  # writes; the apply executor's threads are the usual bound
SLOT_WAIT_ATTEMPTS = 64  # wait for a write slot as long as this many attempts of others take


class ApiError(ReconcilerError):
    """An HTTP request to the Prefect API failed (after any retries)."""

    def __init__(
        self,
        method: str,
        url: str,
        status: int | None,
        detail: str,
        *,
        body: Any = None,
        hint: str | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.detail = _one_line(detail)
        self.body = body
        outcome = f"HTTP {status}" if status is not None else "failed"
        super().__init__(f"{method} {url} {outcome}: {self.detail}", hint=hint)


def is_write(method: str, path: str) -> bool:
    """Whether a request changes server state (read-only POST endpoints do not)."""
    method = method.upper()
    if method not in _WRITE_METHODS:
        return False
    return not (method == "POST" and _is_read_only_post(path))


def _is_read_only_post(path: str) -> bool:
    return path.split("?", 1)[0].rstrip("/").endswith(_READ_ONLY_POST_SUFFIXES)


def _is_idempotent(method: str, path: str) -> bool:
    return method in _IDEMPOTENT_METHODS or (method == "POST" and _is_read_only_post(path))


class ApiClient:
    """A small, retrying, error-translating client for the Prefect REST API.

    Paths are relative to the API root (``client.post("/work_pools/filter", json={})``).
    ``request_count`` counts HTTP requests sent, retries included (what the server's access log
    shows); ``write_count`` counts those that may change server state.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        throttle: Throttle | None = None,
    ) -> None:
        if not settings.api_url:
            raise ConfigError("no Prefect API URL configured", hint="set PREFECT_API_URL")
        if _printable(settings.api_url) != settings.api_url:  # httpx would crash on it
            raise ConfigError(
                f"the Prefect API URL {redact_url(_printable(settings.api_url))} is not valid "
                "Unicode text (bytes that are not UTF-8)",
                hint="check --api-url, PREFECT_API_URL or the profile",
            )
        if not 0 < settings.timeout <= MAX_REQUEST_TIMEOUT:  # NaN fails this too
            raise ConfigError(
                f"PREFECT_API_REQUEST_TIMEOUT={settings.timeout!r} is not a usable timeout",
                hint="give a positive number of seconds up to a week "
                f"({MAX_REQUEST_TIMEOUT:g}), e.g. PREFECT_API_REQUEST_TIMEOUT=30",
            )
        self.settings = settings
        self.base_url = settings.api_url.rstrip("/")
        self.shown_base_url = redact_url(self.base_url)
        self.request_count = 0
        self.write_count = 0
        self.throttle = throttle or Throttle()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._asked_waits = (
            0.0  # seconds waited on Retry-After, all requests (RETRY_AFTER_RUN_BUDGET)
        )
        self._local = threading.local()
        self._secrets = tuple(
            s for s in (*settings.secrets(), _basic_token(settings.auth_string)) if s
        )
        self._client = httpx.Client(
            base_url=self.base_url + "/",
            headers=_headers(settings, self.base_url),
            timeout=httpx.Timeout(settings.timeout),
            verify=_verify(settings),
            transport=transport,
            follow_redirects=False,
            # HTTP_PROXY and friends must not capture a loopback server (the embedded one).
            trust_env=not is_loopback_url(self.base_url),
        )
        if transport is None:
            _install_deadlines(self._client)

    # -- public surface --------------------------------------------------------------------

    @property
    def last_status(self) -> int | None:
        """Status of this thread's last request (useful with ``allow=``)."""
        status: int | None = getattr(self._local, "status", None)
        return status

    @property
    def server_time(self) -> datetime | None:
        """The server's clock (its `Date` header) at this thread's last response, if sent."""
        text: str | None = getattr(self._local, "date", None)
        if not text:
            return None
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
    ) -> Any:
        """Send one request (with retries) and return the parsed JSON body.

        Returns ``None`` for an empty body (204), and for a non-2xx status listed in ``allow``
        (check ``last_status`` to tell them apart). Raises ``ApiError`` otherwise.
        """
        method = method.upper()
        relative = path.lstrip("/")
        url = f"{self.shown_base_url}/{_printable(relative)}"
        _refuse_invalid_text(method, url, (relative, json, params))
        response = self._send(_Call(method, relative, url, json, params))
        self._local.status = response.status_code
        self._local.date = response.headers.get("Date")
        if response.is_success:
            body = _parse_body(response)
            try:
                check_shape(method, relative, body)
            except ShapeError as exc:
                raise ApiError(
                    method,
                    url,
                    response.status_code,
                    self._scrub(str(exc)),
                    body=body,
                    hint=f"{self.shown_base_url} does not answer like a Prefect 3 API "
                    "(check PREFECT_API_URL, or a proxy in between)",
                ) from None
            return body
        if response.status_code in allow:
            return None
        raise self._error_from_response(method, url, response)

    def get(
        self, path: str, *, params: Mapping[str, Any] | None = None, allow: Collection[int] = ()
    ) -> Any:
        return self.request("GET", path, params=params, allow=allow)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
    ) -> Any:
        return self.request("POST", path, json=json, params=params, allow=allow)

    def patch(
        self,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
    ) -> Any:
        return self.request("PATCH", path, json=json, params=params, allow=allow)

    def put(
        self,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        allow: Collection[int] = (),
    ) -> Any:
        return self.request("PUT", path, json=json, params=params, allow=allow)

    def delete(
        self, path: str, *, params: Mapping[str, Any] | None = None, allow: Collection[int] = ()
    ) -> Any:
        return self.request("DELETE", path, params=params, allow=allow)

    def paginate(
        self, path: str, body: Mapping[str, Any] | None = None, *, page_size: int = MAX_PAGE_SIZE
    ) -> list[Any]:
        """POST a ``*/filter`` endpoint page by page (``limit``/``offset``) until a short page."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        items: list[Any] = []
        for page_number in range(MAX_PAGES):
            page = self.post(
                path, json={**(body or {}), "limit": page_size, "offset": page_number * page_size}
            )
            if not isinstance(page, list):
                raise ApiError(
                    "POST",
                    f"{self.shown_base_url}/{path.lstrip('/')}",
                    self.last_status,
                    f"expected a JSON list, got {type(page).__name__}",
                )
            items.extend(page)
            if len(page) < page_size:
                return items
        raise ApiError(
            "POST",
            f"{self.shown_base_url}/{path.lstrip('/')}",
            self.last_status,
            f"more than {MAX_PAGES} pages of {page_size}; giving up",
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.shown_base_url!r})"

    # -- internals -------------------------------------------------------------------------

    def _send(self, call: _Call) -> httpx.Response:
        idempotent = _is_idempotent(call.method, call.relative)
        write = is_write(call.method, call.relative)
        attempts = self.settings.max_retries + 1
        budget = _Budget(self._clock() + self.settings.timeout + RETRY_WAIT_BUDGET)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            with self._lock:
                self.request_count += 1
                if write:
                    self.write_count += 1
            try:
                response = self._gated_attempt(call, budget, write)
            except _Retryable as exc:
                if last or not (exc.before_sending or idempotent):
                    raise exc.error from None
                self._wait(budget, self._backoff(attempt), exc.error)
                continue
            status = response.status_code
            retryable = status in _ALWAYS_RETRY_STATUSES or (
                idempotent and status in _IDEMPOTENT_RETRY_STATUSES
            )
            if not retryable or last:
                return response
            asked = _retry_after(response.headers.get("Retry-After"))
            delay = min(asked, RETRY_AFTER_CAP) if asked is not None else self._backoff(attempt)
            error = self._error_from_response(call.method, call.url, response)
            self._wait(budget, delay, error, asked=asked)
        raise AssertionError("unreachable")  # pragma: no cover

    def _gated_attempt(self, call: _Call, budget: _Budget, gated: bool) -> httpx.Response:
        """One attempt; a write first takes a slot of the throttle and tells it how it went."""
        if not gated:
            with self._translate(call.method, call.url):
                return self._attempt(call, budget.deadline)
        epoch = self._take_slot(call.method, call.url, budget)
        verdict = Verdict.NEUTRAL  # no answer (a transport failure) says nothing about load
        try:
            with self._translate(call.method, call.url):
                response = self._attempt(call, budget.deadline)
            verdict = verdict_of(response)
            return response
        finally:
            self.throttle.release(epoch, verdict)

    def _take_slot(self, method: str, url: str, budget: _Budget) -> int:
        """Wait for a write slot; the wait does not count against the request's own budget
        (nothing was sent meanwhile)."""
        started = self._clock()
        patience = self.settings.timeout * SLOT_WAIT_ATTEMPTS
        epoch = self.throttle.acquire(patience)
        if epoch is None:
            raise ApiError(
                method,
                url,
                None,
                f"no write slot within {patience:g}s ({self.throttle.in_flight} in flight)",
                hint="the server answers too slowly for the writes in flight; try a lower --parallelism",
            )
        budget.deadline += max(0.0, self._clock() - started)
        return epoch

    def _attempt(self, call: _Call, overall: float) -> httpx.Response:
        """One request whose whole answer must arrive by its deadline (read as a stream, so
        that a body trickling in byte by byte is cut off)."""
        deadline = min(self._clock() + self.settings.timeout, overall)
        remaining = max(deadline - self._clock(), 0.001)
        request = self._client.build_request(
            call.method,
            call.relative,
            json=call.json,
            params=call.params,
            timeout=httpx.Timeout(remaining),
        )
        # Every socket operation of this thread now waits at most until the deadline, so a
        # status line or headers trickling in are cut off too (`_DeadlineStream`).
        _DEADLINE.at = time.monotonic() + remaining
        try:
            response = self._client.send(request, stream=True)
            if response.is_stream_consumed:  # a transport that answered with a read response
                return response
            raw = bytearray()
            try:
                for chunk in response.iter_raw():
                    raw += chunk
                    if self._clock() > deadline:
                        raise _TotalTimeout(self.settings.timeout, request)
            finally:
                response.close()
        except httpx.TimeoutException:
            if self._clock() >= deadline or time.monotonic() >= _DEADLINE.at:
                raise _TotalTimeout(self.settings.timeout, request) from None
            raise
        finally:
            _DEADLINE.at = None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(raw),
            request=request,
            extensions=response.extensions,
        )

    def _wait(
        self,
        budget: _Budget,
        delay: float,
        error: ApiError,
        *,
        asked: float | None = None,
    ) -> None:
        """Sleep before the next attempt, or give up with `error` (the failed attempt's) when
        the budget is spent."""
        spent = budget.waited + delay > RETRY_WAIT_BUDGET
        why = f"the server asked to retry after {asked:g}s; " if asked is not None else ""
        with self._lock:
            run_spent = asked is not None and self._asked_waits + delay > RETRY_AFTER_RUN_BUDGET
            if run_spent:
                why += f"this run already waited {self._asked_waits:.0f}s as servers asked; "
            elif asked is not None and not spent and self._clock() + delay < budget.deadline:
                self._asked_waits += delay  # counted now: parallel requests see it at once
        if spent or run_spent or self._clock() + delay >= budget.deadline:
            raise ApiError(
                error.method,
                error.url,
                error.status,
                f"{error.detail} ({why}gave up after {budget.waited:.0f}s of waiting between attempts)",
                body=error.body,
                hint=error.hint,
            ) from None
        budget.waited += delay
        if delay >= WAIT_NOTICE_AFTER:
            reason = f"HTTP {error.status}" if error.status is not None else error.detail
            logger.warning(
                "%s %s: %s; waiting %.0fs before retrying (%.0fs of %.0fs spent waiting)",
                error.method, error.url, reason, delay, budget.waited, RETRY_WAIT_BUDGET,
            )  # fmt: skip
        self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0.0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))

    @contextmanager
    def _translate(self, method: str, url: str) -> Iterator[None]:
        """Turn httpx transport exceptions into ``ApiError`` (wrapped when retryable)."""
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying cannot help
                raise self._transport_error(method, url, exc) from None
            raise _Retryable(self._transport_error(method, url, exc), before_sending=True) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(
                self._transport_error(method, url, exc), before_sending=False
            ) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(method, url, exc) from None

    def _transport_error(self, method: str, url: str, exc: Exception) -> ApiError:
        kinds: dict[type[Exception], str] = {
            httpx.ConnectError: "cannot connect",
            httpx.ConnectTimeout: "timed out connecting",
            httpx.ReadTimeout: f"no answer within {self.settings.timeout:g}s",
            _TotalTimeout: f"the answer did not arrive in full within {self.settings.timeout:g}s",
            httpx.WriteTimeout: "timed out sending",
            httpx.PoolTimeout: "timed out waiting for a connection",
        }
        kind = kinds.get(type(exc), type(exc).__name__)
        reason = str(exc) or type(exc).__name__
        detail = kind if reason == kind else f"{kind}: {reason}"
        if isinstance(exc, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in reason:
            hint = "set PREFECT_API_SSL_CERT_FILE to your CA bundle (or PREFECT_API_TLS_INSECURE_SKIP_VERIFY=true for testing)"
        elif self.settings.source == "embedded":
            hint = "the embedded server stopped? see `prefect-gitops server status` and its log"
        else:
            hint = f"is the Prefect server at {self.shown_base_url} running? (source: {self.settings.source})"
        return ApiError(method, url, None, self._scrub(detail), hint=hint)

    def _error_from_response(self, method: str, url: str, response: httpx.Response) -> ApiError:
        body = _parse_body_quietly(response)
        detail = self._scrub(summarize_error_body(body, response))
        status = response.status_code
        hint = None
        if response.is_redirect and response.headers.get("Location"):
            hint = f"the server redirects to {redact_url(response.headers['Location'])}; point PREFECT_API_URL there"
        elif status in (401, 403) and self.settings.is_cloud and not self.settings.api_key:
            hint = "Prefect Cloud needs PREFECT_API_KEY"
        elif status == 401:
            hint = "check PREFECT_API_KEY / PREFECT_API_AUTH_STRING"
        elif status == 404 and not self.base_url.endswith("/api") and not self.settings.is_cloud:
            hint = f"a self-hosted API URL usually ends in /api, e.g. {self.shown_base_url}/api"
        return ApiError(method, url, status, detail, body=body, hint=hint)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


# The deadline (time.monotonic) of the request this thread is sending, read by the streams.
_DEADLINE = threading.local()


def _remaining(timeout: float | None) -> float | None:
    """`timeout`, shortened to what is left of this thread's request deadline."""
    deadline: float | None = getattr(_DEADLINE, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host, port, _remaining(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _remaining(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _headers(settings: Settings, base_url: str) -> dict[str, str]:
    headers = {"User-Agent": f"prefect-gitops/{__version__}", "Accept": "application/json"}
    if is_loopback_url(base_url):
        # Prefect's server gzips every answer over 500 bytes at level 9: on loopback that is
        # its CPU (~5% of a 10k plan's reads, measured A/B) for no time saved.
        headers["Accept-Encoding"] = "identity"
    # Like Prefect's client: a basic-auth string wins over an API key.
    if settings.auth_string:
        headers["Authorization"] = f"Basic {_basic_token(settings.auth_string)}"
    elif settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    return headers


def _install_deadlines(client: httpx.Client) -> None:
    """Put `_DeadlineBackend` under the connection pools httpx built (direct and proxies).
    httpx has no option for a network backend, so this reaches into its pools; a layout it
    does not recognise is left alone (the body is still cut off by `_attempt`)."""
    transports = [getattr(client, "_transport", None)]
    transports += list(getattr(client, "_mounts", {}).values())
    for transport in transports:
        pool: Any = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, _DeadlineBackend
        ):
            pool._network_backend = _DeadlineBackend(backend)


class Verdict(enum.Enum):
    """What one answer says about the load the server can take."""

    OK = "ok"  # processed (any 2xx-4xx)
    CONTENTION = "contention"  # the database cannot take concurrent writes (SQLite locked)
    PUSHBACK = "pushback"  # rate-limited or overloaded: fewer at once, for a while
    NEUTRAL = "neutral"  # no answer, or a server error that says nothing about load


def verdict_of(response: httpx.Response) -> Verdict:
    status = response.status_code
    if status == 503 and _is_database_contention(response):
        return Verdict.CONTENTION
    if status in _ALWAYS_RETRY_STATUSES:
        return Verdict.PUSHBACK
    return Verdict.OK if status < 500 else Verdict.NEUTRAL


def _is_database_contention(response: httpx.Response) -> bool:
    """Prefect's reply to a retryable database error, or a body naming a locked database.
    Prefect answers both a locked SQLite and a dropped PostgreSQL connection with the same
    body; either way the database did not take the write, and one at a time is what helps."""
    if response.headers.get("Retry-After"):
        return False  # the server says when: push-back, not a lock
    body = _parse_body_quietly(response)
    if body == _PREFECT_DB_RETRYABLE_BODY:
        return True
    text = (json.dumps(body) if not isinstance(body, str) else body).lower()
    return any(words in text for words in _DB_CONTENTION_WORDS)


class Throttle:
    """How many writes may be in flight at once (the API client asks it before each write
    attempt and tells it the verdict of the answer). It settles rather than oscillates:

    - database contention (a locked SQLite): one write at a time from then on, for good.
      SQLite serialises writes; more in flight only adds lock errors and their retries;
    - push-back (429, another 503): at most half of what was in flight, once per window
      (answers to requests sent before the cut do not cut again), and never again as many as
      were in flight when it came (the ceiling);
    - an answer to a request sent since the last cut: after a window of such answers (as
      many as the limit), one more in flight, up to the ceiling (additive increase).

    Without push-back the limit stays at `maximum`: behind latency, every thread keeps a
    request in flight.
    """

    def __init__(self, maximum: int = MAX_IN_FLIGHT) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.ceiling = self.maximum
        self.in_flight = 0
        self.peak = 0  # the most writes ever in flight at once
        self.contended = False
        self._epoch = 0  # bumped by every cut
        self._answers = 0  # answers since the last change of the limit
        self._cond = threading.Condition()

    def acquire(self, timeout: float) -> int | None:
        """Take a slot; returns the epoch to give back to `release`, None after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.in_flight < self.limit, timeout):
                return None
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return self._epoch

    def release(self, epoch: int, verdict: Verdict) -> None:
        with self._cond:
            in_flight = self.in_flight  # this one included
            self.in_flight -= 1
            if verdict is Verdict.CONTENTION:
                if not self.contended:
                    logger.info("the server's database is locked by concurrent writes: "
                                "sending one write at a time from now on")  # fmt: skip
                self.contended = True
                self._cut(limit=1, ceiling=1)
            elif verdict is Verdict.PUSHBACK and epoch == self._epoch:
                self._cut(limit=max(1, min(self.limit, in_flight) // 2),
                          ceiling=max(1, min(self.ceiling, in_flight - 1)))  # fmt: skip
            elif verdict is Verdict.OK and epoch == self._epoch and self.limit < self.ceiling:
                self._answers += 1
                if self._answers >= self.limit:
                    self.limit += 1
                    self._answers = 0
            self._cond.notify_all()

    def _cut(self, *, limit: int, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = min(limit, ceiling)
        self._epoch += 1
        self._answers = 0


@dataclass(frozen=True)
class _Call:
    """One request as sent on each attempt: `relative` to the API's base, `url` as shown."""

    method: str
    relative: str
    url: str
    json: Any
    params: Mapping[str, Any] | None


class _Budget:
    """The wall-clock deadline of one request, and the time spent waiting between attempts."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.waited = 0.0


class _TotalTimeout(httpx.ReadTimeout):
    """The answer was still arriving when the request's deadline passed."""

    def __init__(self, seconds: float, request: httpx.Request) -> None:
        super().__init__(f"the answer did not arrive in full within {seconds:g}s", request=request)


class _Retryable(Exception):
    def __init__(self, error: ApiError, *, before_sending: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.before_sending = before_sending


def _printable(text: str) -> str:
    """`text` with lone surrogates as `\\udcff` escapes: an error message must print."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _refuse_invalid_text(method: str, url: str, parts: tuple[str, Any, Any]) -> None:
    """Text that is not valid Unicode cannot be sent (httpx would crash encoding it): a lone
    surrogate, from a `\\ud800` JSON escape or from command-line bytes that are not UTF-8."""
    try:
        json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ascii(exc.object[exc.start : exc.end])
        raise ApiError(
            method,
            url,
            None,
            f"the request holds {bad}, which is not valid Unicode text (a lone surrogate)",
            hint="check the names and values given on the command line: bytes that are not "
            "UTF-8, or a \\ud800-style escape without its pair",
        ) from None


def summarize_error_body(body: Any, response: httpx.Response | None = None) -> str:
    """One line from either error shape of the Prefect API.

    ``{"detail": "..."}`` (HTTPException) or ``{"exception_message": ..., "exception_detail":
    [pydantic errors]}`` (request validation, internal errors). Request-body echoes are dropped.
    """
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            return _one_line(detail)
        if isinstance(detail, list):
            return _one_line(_summarize_pydantic(detail))
        message = body.get("exception_message")
        errors = body.get("exception_detail")
        if isinstance(errors, list) and errors:
            prefix = f"{message}: " if isinstance(message, str) and message else ""
            return _one_line(prefix + _summarize_pydantic(errors))
        if isinstance(message, str):
            return _one_line(message)
    if isinstance(body, str) and body.strip():
        return _one_line(body)
    if response is not None:
        if response.reason_phrase:
            return response.reason_phrase
        if response.text.strip():
            return _one_line(response.text)
    return "no detail in the response"


def _summarize_pydantic(errors: list[Any]) -> str:
    parts = []
    for error in errors[:3]:
        if not isinstance(error, dict):
            parts.append(str(error))
            continue
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        msg = str(error.get("msg", error.get("type", "invalid")))
        parts.append(f"{loc}: {msg}" if loc else msg)
    if len(errors) > 3:
        parts.append(f"(+{len(errors) - 3} more)")
    return "; ".join(parts)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > DETAIL_MAX_CHARS:
        text = text[: DETAIL_MAX_CHARS - 1] + "…"
    return text


def _parse_body(response: httpx.Response) -> Any:
    """The JSON body; the text when it is not JSON. `NaN`, `Infinity` and numbers beyond a
    float (`1e999`) are not JSON either: Python's decoder would let them through."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return json.loads(response.content, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return response.text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _parse_body_quietly(response: httpx.Response) -> Any:
    try:
        return _parse_body(response)
    except httpx.HTTPError:  # pragma: no cover - body unreadable
        return None


def _retry_after(value: str | None) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``: seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _basic_token(auth_string: str | None) -> str | None:
    if not auth_string:
        return None
    return base64.b64encode(auth_string.encode("utf-8")).decode("ascii")


def _verify(settings: Settings) -> bool | ssl.SSLContext:
    if settings.tls_insecure_skip_verify:
        return False
    if settings.ssl_cert_file:
        try:
            return ssl.create_default_context(cafile=settings.ssl_cert_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the CA bundle {settings.ssl_cert_file} (PREFECT_API_SSL_CERT_FILE): {exc}"
            ) from None
    return True
