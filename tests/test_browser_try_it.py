"""Swagger UI's "Try it out" in a real browser: POST /forecast/plot executed from /docs renders
its PNG, with no Content-Security-Policy violation.

Chromium runs headless with a DevTools pipe of its own (a websocket on loopback); the test
drives the page through the DevTools protocol: it clicks the operation, "Try it out" and
"Execute" as a user would, and reads the DOM and the policy violations the page reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from service.schemas.common import EXAMPLE_SERIES
from tests.test_browser import CHROMIUM_FLAGS, Server, _chromium, server  # noqa: F401

pytestmark = pytest.mark.slow

# Collects every policy violation the page sees, before any of its scripts run.
WATCH_CSP = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""
BLOCK = "operations-plots-forecast_plot_forecast_plot_post"  # Swagger UI's id for the operation
# Opens POST /forecast/plot, presses "Try it out" then "Execute" (its example body), one step
# per call: each returns what it found, so the test can wait for the page between steps.
STEPS = {
    "open": """(() => {
        const block = document.getElementById('BLOCK');
        if (!block) return 'no block';
        if (block.classList.contains('is-open')) return 'ok';
        block.querySelector('.opblock-summary-control').click();
        return 'no block open yet (clicked)'; })()""",
    "try": """(() => {
        const buttons = [...document.querySelectorAll('#BLOCK button')];
        const button = buttons.find(b => b.textContent.trim().startsWith('Try it out'));
        if (!button) return 'no try-out button: ' + buttons.map(b => b.className).join(',');
        button.click(); return 'ok'; })()""",
    "execute": """(() => {
        const buttons = [...document.querySelectorAll('#BLOCK button')];
        const button = buttons.find(b => b.textContent.trim() === 'Execute');
        if (!button) return 'no execute button: ' + buttons.map(b => b.textContent).join(',');
        button.click(); return 'ok'; })()""",
    "image": """(() => {
        const block = document.getElementById('BLOCK');
        const img = block && block.querySelector('.live-responses-table img');
        const table = block && block.querySelector('.live-responses-table tbody');
        const status = table && table.querySelector('.response-col_status');
        if (!img || !img.complete) return null;
        return JSON.stringify({src: img.src, width: img.naturalWidth, height: img.naturalHeight,
                               status: status && status.textContent.trim(),
                               violations: window.__violations}); })()""",
}
STEPS = {name: script.replace("BLOCK", BLOCK) for name, script in STEPS.items()}


class DevTools:
    """The few DevTools protocol calls the test needs, over one flattened session."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"id": next(self.ids), "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        await self.socket.send(json.dumps(message))
        while True:  # events arrive in between; only the answer to this call matters
            answer = json.loads(await self.socket.recv())
            if answer.get("id") == message["id"]:
                assert "error" not in answer, answer
                result: dict[str, Any] = answer["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def until(self, expression: str, *, timeout: float, what: str) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while (value := await self.evaluate(expression)) in (None, "") or str(value).startswith(
            "no "
        ):
            assert asyncio.get_running_loop().time() < deadline, f"{what}: {value}"
            await asyncio.sleep(1.0)
        return value


@contextlib.contextmanager
def chromium(profile: Path) -> Iterator[str]:
    """A headless Chromium with remote debugging on a free loopback port; yields its browser
    websocket URL."""
    flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--virtual-time-budget")]
    process = subprocess.Popen(
        [_chromium(), *flags, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        url = None
        for line in iter(process.stderr.readline, b""):
            found = re.search(rb"DevTools listening on (ws://\S+)", line)
            if found:
                url = found.group(1).decode()
                break
        assert url is not None, "Chromium did not open its DevTools socket"
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def train_sine(base_url: str) -> None:
    """The model the /docs examples use, trained small."""
    body = {"model_name": "sine", "series": EXAMPLE_SERIES, "spec": {"epochs": 5, "units": 4}}
    request = urllib.request.Request(
        f"{base_url}/train",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        assert response.status == 201


async def try_forecast_plot(browser_url: str, docs_url: str) -> dict[str, Any]:
    async with connect(browser_url, max_size=2**24) as socket:
        tools = DevTools(socket)
        target = await tools.call("Target.createTarget", url="about:blank")
        attached = await tools.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        tools.session = attached["sessionId"]
        await tools.call("Page.enable")
        await tools.call("Runtime.enable")
        await tools.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH_CSP)
        await tools.call("Page.navigate", url=docs_url)
        for step in ("open", "try", "execute"):
            await tools.until(STEPS[step], timeout=60, what=f"step {step}")
            await asyncio.sleep(0.5)  # let React render what the click opened
        found = await tools.until(STEPS["image"], timeout=120, what="the plot image")
        result: dict[str, Any] = json.loads(found)
        return result


def test_try_it_out_renders_the_forecast_plot(server: Server, tmp_path: Path) -> None:  # noqa: F811
    train_sine(server.base_url)
    with chromium(tmp_path / "profile") as browser_url:
        image = asyncio.run(try_forecast_plot(browser_url, f"{server.base_url}/docs"))
    assert image["status"] == "200", image
    assert image["src"].startswith("blob:"), image
    assert image["violations"] == [], image
    # The default size of the plot (900 x 500), decoded by the browser: the image rendered.
    assert (image["width"], image["height"]) == (900, 500), image
