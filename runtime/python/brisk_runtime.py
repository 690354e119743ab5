"""Brisk's Python runtime server: one per instance (child process or container).

It speaks the runtime contract of ``runtime/protocol.ts`` exactly as the Node
runtime (``runtime/server.ts``) does: ``POST /init`` loads one function version
once, ``POST /run`` runs one event at a time, ``GET /healthz`` answers when the
server is up. HTTP/1.1 with keep-alive, over the unix socket named by
``BRISK_RUNTIME_SOCKET`` (or a TCP port, ``BRISK_RUNTIME_PORT``), and a
``BRISK_RUNTIME_READY <socket or port>`` line on stdout once it accepts requests.

Standard library only (it runs from the bare interpreter of the runtime image),
one ``asyncio`` event loop, one file (the process backend and the image build
copy it as it is).

Handlers, after AWS Lambda and Apache OpenWhisk:

- ``def handler(event, context)`` or ``async def handler(event, context)``;
- ``def main(args)`` (OpenWhisk): a handler taking one argument gets the event only;
- the configured name first, then ``handler``, ``main``, ``lambda_handler``.

Settings read from the environment (a separate program, like the Node runtime):

- ``BRISK_RUNTIME_SOCKET`` / ``BRISK_RUNTIME_PORT`` / ``BRISK_RUNTIME_HOST``: where to listen;
- ``BRISK_RUNTIME_CODE_DIR`` (default the temp dir): where a single source is written;
- ``BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE=1``: exit when stdin closes (dies with its parent);
- ``BRISK_RUNTIME_LOG_MARKERS=0``: no activation start/end markers on the real stdout/stderr;
- ``BRISK_RUNTIME_MEMORY_MB``: cap the address space near the function's memory
  (the process backend sets it; a container has its cgroup limit instead). Out of
  memory, the runtime prints {@link OOM_LINE} on stderr and exits, as V8 does.
- ``BRISK_PLATFORM_SOCKET``: the executor's platform API (``context.state``/``objects``).
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import io
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
import http.client
from urllib.parse import quote

# ---------------------------------------------------------------------------
# Constants of the protocol (runtime/protocol.ts)

ACTIVATION_START_MARKER = "XXX_BRISK_ACTIVATION_START"
ACTIVATION_END_MARKER = "XXX_BRISK_ACTIVATION_END"
MAX_LOG_BYTES = 256 * 1024
LOG_TRUNCATED_MARKER = "[brisk] log output truncated"
DEFAULT_MAX_RESULT_BYTES = 6 * 1024 * 1024
RESULT_TOO_LARGE = "ResultTooLarge"
MAX_ERROR_BYTES = 64 * 1024
ERROR_TRUNCATED_MARKER = " [brisk] truncated"
MAX_BODY_BYTES = 256 * 1024 * 1024
FALLBACK_HANDLERS = ("handler", "main", "lambda_handler")
#: Printed on the real stderr when the function runs out of memory; the process
#: backend reads it as an OOM (like V8's "heap out of memory").
OOM_LINE = "BRISK_PYTHON_OUT_OF_MEMORY"
#: Headroom over the function's memory for the interpreter itself (its
#: address space, not its heap, is what RLIMIT_AS counts).
MEMORY_HEADROOM_MB = 96

# Read before /init merges the function's env, so a function cannot redirect its own runtime.
PLATFORM_SOCKET = os.environ.get("BRISK_PLATFORM_SOCKET") or None
LOG_MARKERS = os.environ.get("BRISK_RUNTIME_LOG_MARKERS") != "0"

REAL_STDOUT_FD = 1
REAL_STDERR_FD = 2


def truncate_utf8(text: str, max_bytes: int, marker: str = "") -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, ``marker`` appended (and counted) when cut."""
    if len(text) * 4 <= max_bytes:
        return text
    raw = text.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return text
    room = max(0, max_bytes - len(marker.encode("utf-8")))
    return raw[:room].decode("utf-8", "ignore") + marker


def _write_fd(fd: int, text: str) -> None:
    data = text.encode("utf-8", "replace")
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[n:]


# ---------------------------------------------------------------------------
# Logs of one activation. Capture and emission live in capture_activation_logs
# alone: how logs leave the instance (markers on the real streams, lines in the
# /run answer) can change there without touching the rest.


class LogCapture:
    """Output of one activation, kept up to MAX_LOG_BYTES; past the cap writes are only dropped."""

    def __init__(self) -> None:
        self._chunks: list[str] = []
        self._bytes = 0
        self.truncated = False

    def add(self, text: str) -> None:
        if self.truncated or not text:
            return
        n = len(text.encode("utf-8", "replace"))
        if self._bytes + n <= MAX_LOG_BYTES:
            self._chunks.append(text)
            self._bytes += n
            return
        room = MAX_LOG_BYTES - self._bytes
        if room > 0:
            self._chunks.append(text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore"))
            self._bytes = MAX_LOG_BYTES
        self.truncated = True

    def lines(self) -> list[str]:
        out = "".join(self._chunks).split("\n") if self._chunks else []
        if out and out[-1] == "":
            out.pop()
        if self.truncated:
            out.append(LOG_TRUNCATED_MARKER)
        return out


class _CaptureStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` during an activation: everything written goes to the capture."""

    def __init__(self, capture: LogCapture, name: str) -> None:
        super().__init__()
        self._capture = capture
        self._name = name

    @property
    def name(self) -> str:  # some libraries look at it
        return self._name

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            s = str(s)
        self._capture.add(s)
        return len(s)

    def flush(self) -> None:
        return None


#: The activation whose logs are being captured (its id), for the logging format.
_current_activation: str | None = None


@contextlib.contextmanager
def capture_activation_logs(activation_id: str):
    """
    Capture what one activation prints (``print``, ``sys.stderr``, ``logging``)
    and yield the capture, whose ``lines()`` the /run answer carries. With
    markers on, the activation is also framed on the real stdout and stderr
    (``XXX_BRISK_ACTIVATION_START <id>`` / ``..._END <id>``) so a log reader
    of the container's own streams can cut what child processes wrote.
    """
    global _current_activation
    capture = LogCapture()
    if LOG_MARKERS:
        line = f"{ACTIVATION_START_MARKER} {activation_id}\n"
        _write_fd(REAL_STDOUT_FD, line)
        _write_fd(REAL_STDERR_FD, line)
    saved = (sys.stdout, sys.stderr)
    sys.stdout = _CaptureStream(capture, "<stdout>")
    sys.stderr = _CaptureStream(capture, "<stderr>")
    _current_activation = activation_id
    try:
        yield capture
    finally:
        _current_activation = None
        sys.stdout, sys.stderr = saved
        if LOG_MARKERS:
            line = f"{ACTIVATION_END_MARKER} {activation_id}\n"
            _write_fd(REAL_STDOUT_FD, line)
            _write_fd(REAL_STDERR_FD, line)


class _ActivationLogHandler(logging.Handler):
    """The root logger's handler, as on Lambda: records go to whatever ``sys.stderr`` is now."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.activation_id = _current_activation or "-"
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never fail the function
            self.handleError(record)


def install_logging() -> None:
    handler = _ActivationLogHandler()
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(activation_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logging.getLogger().addHandler(handler)


# ---------------------------------------------------------------------------
# context.state and context.objects: the executor's platform API over its unix socket


class PlatformApiError(Exception):
    """A failed platform call. ``code`` is stable (``INVALID_KEY``…); ``status`` >= 500 is the platform's fault."""

    def __init__(self, code: str, message: str, status: int, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.details = details


class _Unreachable(Exception):
    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("platform", timeout=timeout)
        self._path = path
        self.connected = False

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock
        self.connected = True


_ATTEMPTS = 3
_RETRY_DELAYS_S = (0.01, 0.05)
_CALL_TIMEOUT_S = 60.0


class PlatformClient:
    """Blocking calls (a function serves one event at a time); usable from ``def`` and ``async def`` handlers."""

    def __init__(self, socket_path: str | None, token: str, on_fault) -> None:
        self._socket = socket_path
        self._token = token
        self._on_fault = on_fault

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, bytes]:
        try:
            return self._with_retry(method, path, body, content_type)
        except PlatformApiError as err:
            if err.status >= 500:
                self._on_fault(err)
            raise

    def _with_retry(self, method, path, body, content_type) -> tuple[int, bytes]:
        if self._socket is None:
            raise PlatformApiError("PLATFORM_UNAVAILABLE", "this instance has no platform socket (BRISK_PLATFORM_SOCKET is not set)", 503)
        idempotent = method != "POST"  # an increment must not be applied twice
        attempt = 1
        while True:
            try:
                return self._request(method, path, body, content_type)
            except _Unreachable as err:
                if attempt >= _ATTEMPTS or (err.sent and not idempotent):
                    raise PlatformApiError("PLATFORM_UNAVAILABLE", f"platform API unreachable: {err}", 503) from None
                time.sleep(_RETRY_DELAYS_S[attempt - 1])
                attempt += 1

    def _request(self, method, path, body, content_type) -> tuple[int, bytes]:
        conn = _UnixConnection(self._socket, _CALL_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {self._token}", "Host": "platform"}
        if body is not None and content_type is not None:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read()
        except OSError as err:
            raise _Unreachable(str(err), conn.connected) from None
        except http.client.HTTPException as err:
            raise _Unreachable(str(err) or type(err).__name__, conn.connected) from None
        finally:
            conn.close()
        if 200 <= res.status < 300:
            return res.status, data
        raise _error_of(res.status, data)


def _error_of(status: int, data: bytes) -> PlatformApiError:
    try:
        err = json.loads(data.decode("utf-8")).get("error")
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            details = err.get("details") if isinstance(err.get("details"), dict) else None
            message = err.get("message") if isinstance(err.get("message"), str) else err["code"]
            return PlatformApiError(err["code"], message, status, details)
    except (ValueError, AttributeError, UnicodeDecodeError):
        pass
    return PlatformApiError("PLATFORM_ERROR", f"platform API answered {status}", status)


def _state_path(key: str) -> str:
    return "/state/" + quote(str(key), safe="")


def _object_path(bucket: str, key: str) -> str:
    return "/objects/" + quote(str(bucket), safe="") + "/" + "/".join(quote(seg, safe="") for seg in str(key).split("/"))


class StateApi:
    """Key-value state of the function's namespace; values are anything JSON can hold."""

    def __init__(self, client: PlatformClient) -> None:
        self._c = client

    def get(self, key: str, default=None):
        """The value, or ``default`` when the key does not exist (or expired)."""
        try:
            _, data = self._c.call("GET", _state_path(key))
        except PlatformApiError as err:
            if err.code == "STATE_NOT_FOUND":
                return default
            raise
        return json.loads(data)["value"]

    def set(self, key: str, value, ttl_seconds: int | None = None) -> None:
        body = {"value": value}
        if ttl_seconds is not None:
            body["ttlSeconds"] = ttl_seconds
        try:
            payload = json.dumps(body, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as err:
            raise PlatformApiError("INVALID_STATE_VALUE", f"state values must be JSON-serialisable: {err}", 400) from None
        self._c.call("PUT", _state_path(key), payload, "application/json")

    def delete(self, key: str) -> bool:
        """Whether the key existed."""
        _, data = self._c.call("DELETE", _state_path(key))
        return json.loads(data).get("deleted") is True

    def incr(self, key: str, by: int = 1) -> int:
        """Atomically add ``by`` to an integer (missing = 0); the new value."""
        _, data = self._c.call("POST", _state_path(key) + "/incr", json.dumps({"by": by}).encode("utf-8"), "application/json")
        return int(json.loads(data)["value"])


class ObjectsApi:
    """Objects in the namespace's buckets."""

    def __init__(self, client: PlatformClient) -> None:
        self._c = client

    def get(self, bucket: str, key: str) -> bytes | None:
        """The bytes, or None when the object does not exist."""
        try:
            _, data = self._c.call("GET", _object_path(bucket, key))
        except PlatformApiError as err:
            if err.code == "OBJECT_NOT_FOUND":
                return None
            raise
        return data

    def put(self, bucket: str, key: str, data, content_type: str | None = None) -> None:
        if isinstance(data, str):
            raw, default_type = data.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            raw, default_type = bytes(data), "application/octet-stream"
        self._c.call("PUT", _object_path(bucket, key), raw, content_type or default_type)

    def delete(self, bucket: str, key: str) -> bool:
        _, data = self._c.call("DELETE", _object_path(bucket, key))
        return json.loads(data).get("deleted") is True

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys of the bucket, sorted, optionally only those starting with ``prefix``."""
        q = "" if prefix == "" else "?prefix=" + quote(prefix, safe="")
        _, data = self._c.call("GET", "/objects/" + quote(str(bucket), safe="") + q)
        return list(json.loads(data)["keys"])


# ---------------------------------------------------------------------------
# The function


class Context:
    """What a handler gets beside its event (Lambda's names; ``activation_id`` is Brisk's)."""

    def __init__(self, fn: "LoadedFunction", activation_id: str, deadline_ms: float) -> None:
        self.activation_id = activation_id
        self.aws_request_id = activation_id
        self.namespace = fn.namespace
        self.function_name = fn.name
        self.function_version = str(fn.version)
        self.memory_limit_in_mb = fn.memory_mb
        self.deadline_ms = deadline_ms
        if fn.platform is not None:
            self.state = fn.platform[0]
            self.objects = fn.platform[1]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


class LoadedFunction:
    def __init__(self, init: dict, handler, export_name: str, arity: int, platform) -> None:
        self.namespace: str = init["namespace"]
        self.name: str = init["name"]
        self.version: int = init["version"]
        self.memory_mb = init["memoryMb"]
        limits = init.get("limits")
        self.max_result_bytes: int = limits["maxResultBytes"] if isinstance(limits, dict) else DEFAULT_MAX_RESULT_BYTES
        self.handler = handler
        self.export_name = export_name
        #: How many positional arguments it takes: 1 = OpenWhisk's main(args), 2 = (event, context).
        self.arity = arity
        self.platform = platform


def _arity(fn) -> int:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return min(2, len(positional))


def resolve_handler(mod, export_name: str):
    """The configured name, then the fallbacks; (callable, name) or None."""
    for name in (export_name, *[n for n in FALLBACK_HANDLERS if n != export_name]):
        fn = getattr(mod, name, None)
        if callable(fn) and not inspect.isclass(fn):
            return fn, name
    return None


def describe_module(mod) -> list[str]:
    return sorted(n for n, v in vars(mod).items() if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == mod.__name__)


def _function_frames(tb):
    """The traceback from the first frame that is not the runtime's own: the user sees only their code."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def describe_exception(err: BaseException) -> dict:
    stack = "".join(traceback.format_exception(type(err), err, _function_frames(err.__traceback__)))
    message = str(err)
    return {
        "errorType": truncate_utf8(type(err).__name__, 256, ERROR_TRUNCATED_MARKER),
        "errorMessage": truncate_utf8(message, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER),
        "stack": truncate_utf8(stack, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER),
    }


def serialize_result(result, max_bytes: int) -> tuple[bool, str | dict]:
    """(True, JSON text) or (False, function error): NaN, cycles, sets, bytes … are ResultNotSerializable."""
    try:
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        msg = truncate_utf8(f"the function's result is not JSON-serialisable: {err}", MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER)
        return False, {"errorType": "ResultNotSerializable", "errorMessage": msg}
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            return False, {"errorType": RESULT_TOO_LARGE, "errorMessage": f"the function's result is {size} bytes of JSON; the limit is {max_bytes}"}
    return True, text


def out_of_memory() -> None:
    """As V8 does on a full heap: say so on the real stderr and die (the backend reports OOM)."""
    _write_fd(REAL_STDERR_FD, f"{OOM_LINE}: the function ran out of memory (MemoryError)\n")
    os._exit(137)


class Runtime:
    def __init__(self) -> None:
        self.state = "none"  # none | initializing | ready | failed
        self.fn: LoadedFunction | None = None
        self.busy = False
        self.activation_running = False
        self.platform_fault: dict | None = None

    # -- /init ---------------------------------------------------------------

    def init(self, body: dict) -> tuple[int, dict]:
        if self.state != "none":
            return 409, _err("ALREADY_INITIALIZED", "this instance was already initialised; start a new one")
        problem = _check_init(body)
        if problem is not None:
            return 400, _err("BAD_REQUEST", problem)
        self.state = "initializing"
        os.environ.update({str(k): str(v) for k, v in (body.get("env") or {}).items()})
        module_name = body.get("module") or "index"
        try:
            mod = self._import(body, module_name)
        except MemoryError:
            out_of_memory()
        except BaseException as err:  # noqa: BLE001 - SystemExit at import is the function's fault too
            self.state = "failed"
            e = describe_exception(err)
            return 400, _err("INIT_FAILED", e["errorMessage"] or e["errorType"], errorType=e["errorType"], stack=e["stack"])
        found = resolve_handler(mod, body["exportName"])
        if found is None:
            self.state = "failed"
            names = describe_module(mod)
            return 400, _err(
                "HANDLER_NOT_FOUND",
                f"'{body['exportName']}' is not a function in {body['namespace']}/{body['name']} (module {module_name}); functions: {', '.join(names) or '(none)'}",
                errorType="HandlerNotFound",
            )
        handler, name = found
        platform = None
        token = (body.get("platform") or {}).get("token")
        if token:
            client = PlatformClient(PLATFORM_SOCKET, token, self._note_fault)
            platform = (StateApi(client), ObjectsApi(client))
        self.fn = LoadedFunction(body, handler, name, _arity(handler), platform)
        self.state = "ready"
        style = "async" if inspect.iscoroutinefunction(handler) else "sync"
        return 200, {"ok": True, "exportName": name, "style": style}

    def _import(self, body: dict, module_name: str):
        package_dir = body.get("packageDir")
        if package_dir:
            # A package: its root is the working directory and the first import path (vendored libraries live there).
            root = package_dir
        else:
            base = os.environ.get("BRISK_RUNTIME_CODE_DIR") or tempfile.gettempdir()
            root = tempfile.mkdtemp(prefix="brisk-fn-", dir=base)
            with open(os.path.join(root, module_name.replace(".", "/") + ".py"), "w", encoding="utf-8") as f:
                f.write(body["code"])
        os.chdir(root)
        sys.path.insert(0, root)
        # Bytecode next to a read-only package would fail to write; none is needed for one load.
        sys.dont_write_bytecode = True
        return importlib.import_module(module_name)

    def _note_fault(self, err: PlatformApiError) -> None:
        if self.activation_running and self.platform_fault is None:
            self.platform_fault = {"code": err.code, "message": str(err)}

    # -- /run ----------------------------------------------------------------

    async def run(self, body: dict) -> tuple[int, dict]:
        fn = self.fn
        if fn is None:
            return 400, _err("NOT_INITIALIZED", f"no function loaded (state: {self.state})")
        if self.busy:
            return 409, _err("BUSY", "an activation is already running on this instance")
        activation_id, payload, deadline = body.get("activationId"), body.get("payload"), body.get("deadline")
        if not isinstance(activation_id, str) or not activation_id:
            return 400, _err("BAD_REQUEST", "activationId must be a non-empty string")
        if not isinstance(payload, str):
            return 400, _err("BAD_REQUEST", "payload must be a string (JSON text)")
        if not isinstance(deadline, (int, float)) or isinstance(deadline, bool):
            return 400, _err("BAD_REQUEST", "deadline must be a number (epoch ms)")
        try:
            event = {} if payload == "" else json.loads(payload)
        except ValueError as err:
            return 400, _err("BAD_PAYLOAD", f"payload is not JSON: {err}")
        self.busy = True
        try:
            return 200, await self._activate(fn, activation_id, event, deadline)
        finally:
            self.busy = False

    async def _activate(self, fn: LoadedFunction, activation_id: str, event, deadline: float) -> dict:
        self.platform_fault = None
        self.activation_running = True
        _openwhisk_env(fn, activation_id, deadline)
        t0 = time.perf_counter()
        with capture_activation_logs(activation_id) as capture:
            try:
                result = await self._call(fn, event, Context(fn, activation_id, deadline))
                ok, out = serialize_result(result, fn.max_result_bytes)
            except MemoryError:
                out_of_memory()
            except Exception as err:  # noqa: BLE001 - every function error is reported, never raised
                ok, out = False, describe_exception(err)
            finally:
                self.activation_running = False
        duration_ms = (time.perf_counter() - t0) * 1000
        logs = capture.lines()
        if ok:
            return {"ok": True, "resultJson": out, "logs": logs, "logsTruncated": capture.truncated, "durationMs": duration_ms}
        answer = {"ok": False, "error": out, "logs": logs, "logsTruncated": capture.truncated, "durationMs": duration_ms}
        if self.platform_fault is not None:
            answer["platformFault"] = self.platform_fault
        return answer

    @staticmethod
    async def _call(fn: LoadedFunction, event, context: Context):
        args = (event, context)[: fn.arity]
        result = fn.handler(*args)
        # `async def`, or a plain def returning an awaitable.
        if inspect.isawaitable(result):
            result = await result
        return result


def _openwhisk_env(fn: LoadedFunction, activation_id: str, deadline: float) -> None:
    """What OpenWhisk's Python actions read from their environment."""
    os.environ["__OW_ACTIVATION_ID"] = activation_id
    os.environ["__OW_ACTION_NAME"] = f"/{fn.namespace}/{fn.name}"
    os.environ["__OW_NAMESPACE"] = fn.namespace
    os.environ["__OW_DEADLINE"] = str(int(deadline))


def _check_init(body: dict) -> str | None:
    if not isinstance(body.get("code"), str):
        return "code must be a string"
    if not isinstance(body.get("exportName"), str):
        return "exportName must be a string"
    if not isinstance(body.get("namespace"), str) or not isinstance(body.get("name"), str):
        return "namespace and name must be strings"
    for k in ("version", "timeoutMs", "memoryMb"):
        if not isinstance(body.get(k), (int, float)) or isinstance(body.get(k), bool):
            return "version, timeoutMs and memoryMb must be numbers"
    env = body.get("env")
    if env is not None and not isinstance(env, dict):
        return "env must be an object"
    pkg = body.get("packageDir")
    if pkg is not None and (not isinstance(pkg, str) or not os.path.isabs(pkg)):
        return "packageDir must be an absolute path"
    module = body.get("module")
    if module is not None and (not isinstance(module, str) or not all(p.isidentifier() for p in module.split("."))):
        return "module must be a dotted Python module name"
    platform = body.get("platform")
    if platform is not None and not (isinstance(platform, dict) and isinstance(platform.get("token"), str) and platform["token"]):
        return "platform must be { token: string }"
    limits = body.get("limits")
    if limits is not None and not (isinstance(limits, dict) and isinstance(limits.get("maxResultBytes"), (int, float)) and limits["maxResultBytes"] > 0):
        return "limits must be { maxResultBytes: number > 0 }"
    return None


def _err(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": truncate_utf8(message, MAX_ERROR_BYTES, ERROR_TRUNCATED_MARKER), **extra}}


# ---------------------------------------------------------------------------
# HTTP/1.1 over asyncio streams (keep-alive: the executor holds one connection per instance)

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large", 500: "Internal Server Error"}


async def _read_body(reader: asyncio.StreamReader, headers: dict) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts, size = [], 0
        while True:
            n = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            size += n
            if size > MAX_BODY_BYTES:
                raise ValueError("request body too large")
            parts.append(await reader.readexactly(n))
            await reader.readline()
    length = int(headers.get("content-length", "0") or "0")
    if length > MAX_BODY_BYTES:
        raise ValueError("request body too large")
    return await reader.readexactly(length) if length > 0 else b""


class Server:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    async def handle(self, method: str, target: str, raw: bytes) -> tuple[int, dict]:
        if method == "GET" and target == "/healthz":
            return 200, {"ok": True, "state": self.rt.state, "busy": self.rt.busy}
        if method == "POST" and target in ("/init", "/run"):
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                body = None
            if target == "/init":
                if self.rt.state != "none":
                    return 409, _err("ALREADY_INITIALIZED", "this instance was already initialised; start a new one")
                if not isinstance(body, dict):
                    return 400, _err("BAD_REQUEST", "body must be a JSON object")
                return self.rt.init(body)
            if self.rt.fn is None:
                return 400, _err("NOT_INITIALIZED", f"no function loaded (state: {self.rt.state})")
            if not isinstance(body, dict):
                return 400, _err("BAD_REQUEST", "body must be a JSON object")
            return await self.rt.run(body)
        return 404, _err("NOT_FOUND", f"{method} {target}")

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                parts = line.decode("latin-1").split()
                if len(parts) < 2:
                    return
                method, target = parts[0], parts[1]
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                try:
                    raw = await _read_body(reader, headers)
                except ValueError as err:
                    await self._send(writer, 413, _err("BAD_REQUEST", str(err)), close=True)
                    return
                try:
                    status, answer = await self.handle(method, target, raw)
                except Exception as err:  # noqa: BLE001 - a runtime bug answers 500, it never kills the server
                    status, answer = 500, _err("RUNTIME_ERROR", f"{type(err).__name__}: {err}")
                close = headers.get("connection", "").lower() == "close"
                await self._send(writer, status, answer, close)
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, answer: dict, close: bool) -> None:
        data = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\nconnection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + data)
        await writer.drain()


def _limit_memory() -> None:
    mb = os.environ.get("BRISK_RUNTIME_MEMORY_MB")
    if not mb:
        return
    try:
        import resource

        limit = (int(float(mb)) + MEMORY_HEADROOM_MB) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError, ImportError) as err:
        _write_fd(REAL_STDERR_FD, f"[brisk-runtime] could not cap memory: {err}\n")


def _watch_stdin(loop: asyncio.AbstractEventLoop) -> None:
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            os._exit(0)

    loop.add_reader(fd, on_readable)


async def main() -> None:
    _limit_memory()
    install_logging()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: os._exit(0))
    if os.environ.get("BRISK_RUNTIME_EXIT_ON_STDIN_CLOSE") == "1":
        _watch_stdin(loop)
    server = Server(Runtime())
    socket_path = os.environ.get("BRISK_RUNTIME_SOCKET") or None
    if socket_path is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        srv = await asyncio.start_unix_server(server.connection, path=socket_path, limit=1 << 20)
        # The executor connects as another uid; the directory around the socket is what guards it.
        os.chmod(socket_path, 0o666)
        ready = socket_path
    else:
        port = int(os.environ.get("BRISK_RUNTIME_PORT", "8080") or "8080")
        host = os.environ.get("BRISK_RUNTIME_HOST") or "0.0.0.0"
        srv = await asyncio.start_server(server.connection, host=host, port=port, limit=1 << 20)
        ready = str(srv.sockets[0].getsockname()[1])
    _write_fd(REAL_STDOUT_FD, f"BRISK_RUNTIME_READY {ready}\n")
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    # The runtime's own module must not shadow a function module of the same name.
    sys.modules.setdefault("brisk_runtime", sys.modules["__main__"])
    asyncio.run(main())
