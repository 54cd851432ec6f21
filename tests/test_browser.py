"""The API docs pages in a real browser: Debian's headless Chromium, no driver, loopback only.

A module-scoped fixture starts the real server (uvicorn, the app factory, a temporary store).
Chromium then loads /docs and /redoc with every host name except 127.0.0.1 made unresolvable, so
the pages can only render from assets the service itself serves. The tests read the DOM Chromium
dumps after the scripts ran, check every operation of /openapi.json is on the page, read
Chromium's net log to list every request the page made, and save a screenshot of /docs to
test-artifacts/docs.png.

Chromium is not a Python package: CI installs it with scripts/install-browser. When it is
missing these tests fail, rather than skip, so a CI without it cannot pass silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.utils import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 120.0  # seconds: the app imports TensorFlow and Keras
CHROMIUM_TIMEOUT = 120.0  # seconds of real time for one Chromium run
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}

# Every host name resolves to "not found" except 127.0.0.1: a page that needs anything from
# outside loopback (a CDN script or stylesheet) cannot render.
RESOLVER_RULES = f"MAP * ~NOTFOUND , EXCLUDE {HOST}"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    f"--host-resolver-rules={RESOLVER_RULES}",
    "--virtual-time-budget=15000",
]

# Requests a page may make outside loopback: none. (ReDoc's bundle links Redocly's logo on a
# CDN; the service's Content-Security-Policy on the docs pages stops the browser fetching it.)
ALLOWED_EXTERNAL: dict[str, set[str]] = {"/docs": set(), "/redoc": set()}


# --- the server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base_url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _health_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def _stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM (uvicorn's graceful shutdown, which stops the training workers), then SIGKILL of
    the whole process group the server started in."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("browser-server")
    store = workdir / "store"
    store.mkdir()
    log = workdir / "server.log"
    port = free_port()
    # Only the settings this test chooses: none of the caller's FORECAST_ variables (an API key
    # would not matter to the docs pages, but a store path or worker count might).
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_")}
    env.update(FORECAST_STORE_ROOT=str(store), TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.main:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Server(base_url=f"http://{HOST}:{port}", log=log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while _health_status(f"{running.base_url}/health") != 200:
            if process.poll() is not None:
                pytest.fail(
                    f"the server exited with {process.returncode} before /health answered:\n"
                    f"{running.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"GET /health did not answer 200 within {STARTUP_TIMEOUT:.0f} s:\n"
                    f"{running.log_tail()}"
                )
            time.sleep(0.5)
        yield running
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.base_url}/openapi.json", timeout=30) as response:
        spec: dict[str, Any] = json.load(response)
    return spec


@dataclass(frozen=True)
class Operation:
    method: str  # lower case, as in the OpenAPI document
    path: str
    tags: tuple[str, ...]
    operation_id: str
    summary: str

    @property
    def tag(self) -> str:
        return self.tags[0]


def _operations(spec: dict[str, Any]) -> list[Operation]:
    found: list[Operation] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            # Both UIs build element ids from the tags; an untagged route would be laid out
            # differently (Swagger UI's "default" group), and every router here has a tag.
            assert op.get("tags"), f"{method.upper()} {path} has no tag"
            tags = tuple(op["tags"])
            found.append(Operation(method, path, tags, op["operationId"], op["summary"]))
    routes = {(o.method, o.path) for o in found}
    # The two routes the service exists for: if they left the schema, checking "every operation"
    # would no longer check them.
    assert {("post", "/train"), ("post", "/forecast")} <= routes, routes
    return found


# --- Chromium ---------------------------------------------------------------------------------


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "Chromium is not installed: the browser tests need Debian's `chromium` on PATH. "
            "CI must install it: run scripts/install-browser (apt-get install chromium)."
        )
    return found


@dataclass(frozen=True)
class ChromiumRun:
    stdout: str
    stderr: str

    def describe(self) -> str:
        errors = [line for line in self.stderr.splitlines() if "dbus" not in line]
        return "Chromium's stderr (D-Bus noise left out):\n" + "\n".join(errors[-30:])


def _run_chromium(args: list[str], profile: Path) -> ChromiumRun:
    """Run Chromium in its own process group; on a timeout, kill the group (the browser and its
    renderer, GPU and utility processes)."""
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
        pytest.fail(f"Chromium did not finish within {CHROMIUM_TIMEOUT:.0f} s: {command}")
    run = ChromiumRun(out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    assert process.returncode == 0, f"Chromium exited with {process.returncode}\n{run.describe()}"
    return run


# --- the dumped DOM ---------------------------------------------------------------------------


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(
        self,
        tag: str | None = None,
        *,
        classes: Iterable[str] = (),
        attr: tuple[str, str] | None = None,
    ) -> list[Element]:
        """The descendants with this tag name, all these classes and this attribute value."""
        wanted = set(classes)
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and wanted <= e.classes
            and (attr is None or e.attrs.get(attr[0]) == attr[1])
        ]

    def by_id(self, element_id: str) -> Element:
        found = self.find_all(attr=("id", element_id))
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    def next_element(self) -> Element | None:
        assert self.parent is not None
        siblings = [c for c in self.parent.children if isinstance(c, Element)]
        index = siblings.index(self)
        return siblings[index + 1] if index + 1 < len(siblings) else None


VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


class _TreeBuilder(HTMLParser):
    """Chromium's --dump-dom is the serialised DOM (document.documentElement.outerHTML), so every
    non-void element has its end tag: a stack is enough to rebuild the tree."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(element)
        if tag not in VOID_TAGS:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.stack[-1])
        self.stack[-1].children.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# --- Chromium's net log -----------------------------------------------------------------------


def _page_requests(net_log: Path, origin: str) -> list[str]:
    """Every URL the page asked for: the main frame and each request whose initiator is the page's
    origin. Chromium's own background requests (update checks, account lookups, made despite the
    --disable flags and stopped by the resolver rules) have no origin and are left out."""
    text = net_log.read_text(encoding="utf-8")
    try:
        log = json.loads(text)
    except json.JSONDecodeError:  # Chromium may leave the closing brackets off
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls: list[str] = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        if params.get("initiator") == origin or params.get("request_type") == "main frame":
            urls.append(params["url"])
    return urls


def _load(server: Server, page: str, tmp_path: Path) -> tuple[Element, ChromiumRun]:
    """Load the page with the resolver rules and a net log; check that everything it requested
    was on loopback (or is listed in ALLOWED_EXTERNAL); return its rendered DOM."""
    net_log = tmp_path / f"netlog{page.replace('/', '-')}.json"
    run = _run_chromium(
        [f"--log-net-log={net_log}", "--dump-dom", f"{server.base_url}{page}"],
        profile=tmp_path / f"profile{page.replace('/', '-')}",
    )
    assert run.stdout.strip(), f"Chromium dumped no DOM for {page}\n{run.describe()}"

    requests = _page_requests(net_log, server.base_url)
    # The log must have seen the page's own loads, or an empty "external" list proves nothing.
    assert f"{server.base_url}{page}" in requests, requests
    external = {url for url in requests if urlsplit(url).hostname != HOST}
    unexpected = external - ALLOWED_EXTERNAL[page]
    assert not unexpected, f"{page} requested URLs outside loopback: {sorted(unexpected)}"
    assert f"{server.base_url}/openapi.json" in requests, f"{page} never fetched the schema"
    return _parse(run.stdout), run


# --- the tests --------------------------------------------------------------------------------


def test_swagger_ui_renders_every_operation(
    server: Server, openapi: dict[str, Any], tmp_path: Path
) -> None:
    dom, run = _load(server, "/docs", tmp_path)
    operations = _operations(openapi)

    # Swagger UI fetched /openapi.json and rendered its info block, without an error box.
    titles = dom.find_all("h1", classes={"title"})
    assert titles, f"no Swagger UI title: the UI did not render\n{run.describe()}"
    assert titles[0].text().startswith(openapi["info"]["title"]), titles[0].text()
    errors = dom.find_all(classes={"errors-wrapper"})
    assert not errors, [e.text() for e in errors]

    # One operation block per operation and tag of the schema, no more.
    blocks = dom.find_all("div", classes={"opblock"})
    placements = [(op, tag) for op in operations for tag in op.tags]
    assert len(blocks) == len(placements), [b.attrs.get("id") for b in blocks]

    for op, tag in placements:
        # e.g. <div class="opblock opblock-post" id="operations-train-train_train_post">
        block = dom.by_id(f"operations-{tag}-{op.operation_id}")
        assert {"opblock", f"opblock-{op.method}"} <= block.classes, block.classes
        [method] = block.find_all(classes={"opblock-summary-method"})
        assert method.text() == op.method.upper()
        [path] = block.find_all(attr=("data-path", op.path))
        assert path.text() == op.path
        [summary] = block.find_all(classes={"opblock-summary-description"})
        assert summary.text() == op.summary


def test_redoc_renders_every_operation(
    server: Server, openapi: dict[str, Any], tmp_path: Path
) -> None:
    dom, run = _load(server, "/redoc", tmp_path)
    operations = _operations(openapi)

    # ReDoc fetched /openapi.json: its heading is the API's title (ReDoc's own error page has
    # an h1 too, with other text).
    headings = dom.find_all("h1")
    assert headings, f"ReDoc rendered no heading\n{run.describe()}"
    assert headings[0].text().startswith(openapi["info"]["title"]), headings[0].text()

    for op in operations:
        # The side menu entry: <li data-item-id="tag/train/operation/train_train_post"> with
        # <span class="... operation-type post">post</span>.
        [item] = dom.find_all(attr=("data-item-id", f"tag/{op.tag}/operation/{op.operation_id}"))
        assert item.find_all(classes={"operation-type", op.method})
        assert op.summary in item.text()

        # The operation's section: an <h2> with the summary and the endpoint line,
        # <span class="... http-verb post">post</span><span ...>/train</span>.
        section = dom.by_id(f"tag/{op.tag}/operation/{op.operation_id}")
        titles = section.find_all("h2")
        assert any(t.text().strip() == op.summary for t in titles), [t.text() for t in titles]
        verbs = section.find_all(classes={"http-verb", op.method})
        assert verbs, f"no {op.method} verb in the {op.path} section"
        assert verbs[0].text() == op.method
        path = verbs[0].next_element()
        assert path is not None
        assert path.text() == op.path


def test_swagger_ui_screenshot(server: Server, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "docs.png"
    shot.unlink(missing_ok=True)  # a stale picture must not pass for this run's
    run = _run_chromium(
        [
            "--hide-scrollbars",
            "--window-size=1280,1600",
            f"--screenshot={shot}",
            f"{server.base_url}/docs",
        ],
        profile=tmp_path / "profile",
    )
    assert shot.is_file(), f"no screenshot written\n{run.describe()}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert (width, height) == (1280, 1600)
    # A blank page of this size is about 9 KB; the rendered Swagger UI is over 100 KB.
    assert len(data) > 40_000, f"screenshot only {len(data)} bytes: is the page blank?"


def test_resolver_rules_block_other_hosts(server: Server, tmp_path: Path) -> None:
    """The control for the tests above: with the same flags, a host name other than 127.0.0.1
    (here `localhost`, the same server) does not load, so a page that renders under these
    rules took nothing from outside loopback."""
    port = urlsplit(server.base_url).port
    run = _run_chromium(
        ["--dump-dom", f"http://localhost:{port}/docs"], profile=tmp_path / "profile"
    )
    assert "swagger-ui" not in run.stdout, "localhost loaded: the resolver rules had no effect"
    assert "ERR_NAME_NOT_RESOLVED" in run.stdout + run.stderr, run.describe()
