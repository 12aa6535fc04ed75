"""Web-UI detection: candidates from local.url, output text and ports; fingerprints of each kind."""

from __future__ import annotations

import contextlib

import pytest

from pinokiocloud.share.detect import (
    candidates_from_local_url,
    candidates_from_ports,
    candidates_from_text,
    detect_web_ui,
    detect_web_uis,
    fingerprint,
)
from tests.share.conftest import run
from tests.share.servers import RECORDED, KindServer
from tests.share.tunnels import free_port


def test_candidates_from_output_text_are_local_normalized_and_newest_last() -> None:
    text = ("\x1b[32mRunning on local URL:  http://0.0.0.0:7860\x1b[0m\n"
            "Running on public URL: https://0123abc.gradio.live\n"
            "To see the GUI go to: http://127.0.0.1:8188/.\n"
            "  Local URL: http://localhost:8501\n"
            "  Network URL: http://10.0.0.5:8501\n"
            "again http://127.0.0.1:7860/\n")
    assert candidates_from_text(text) == ["http://127.0.0.1:8188", "http://127.0.0.1:8501", "http://127.0.0.1:7860"]


def test_candidates_from_local_url_and_ports() -> None:
    assert candidates_from_local_url("http://0.0.0.0:7860/") == ["http://127.0.0.1:7860"]
    assert candidates_from_local_url({"url": "x"}) == []
    assert candidates_from_local_url("not a url") == []
    assert candidates_from_ports([7860, 7860, 0, 70000, 8188]) == ["http://127.0.0.1:7860", "http://127.0.0.1:8188"]


@pytest.mark.parametrize("kind", sorted(RECORDED))
def test_fingerprint_tells_each_kind_of_server(kind: str) -> None:
    async def scenario() -> tuple[str, str | None] | None:
        async with KindServer(kind) as server:
            return await fingerprint(server.url)

    result = run(scenario())
    assert result is not None and result[0] == kind


def test_fingerprint_of_a_closed_port_is_none() -> None:
    assert run(fingerprint(f"http://127.0.0.1:{free_port()}")) is None


def test_detection_prefers_local_url_then_output_then_ports() -> None:
    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            gradio = await stack.enter_async_context(KindServer("gradio"))
            comfy = await stack.enter_async_context(KindServer("comfyui"))
            ollama = await stack.enter_async_context(KindServer("ollama"))
            dead = free_port()
            found = await detect_web_uis(local_url=gradio.url + "/", output=f"open http://127.0.0.1:{comfy.port}\n",
                                         ports=[dead, ollama.port, gradio.port])
            assert [(w.kind, w.source) for w in found] == [("gradio", "local.url"), ("comfyui", "output"),
                                                           ("ollama", "port")]
            assert found[0].title == "Gradio"
            best = await detect_web_ui(output=f"http://0.0.0.0:{comfy.port}", ports=[ollama.port])
            assert best is not None and (best.kind, best.url) == ("comfyui", comfy.url)
            assert await detect_web_ui(ports=[dead]) is None

    run(scenario())
