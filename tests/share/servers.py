"""Loopback servers that answer like known web-UI servers, from responses recorded from each kind
(the paths and bodies the fingerprints look at), for detection tests."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.share.origin import LoopbackServer

RECORDED: dict[str, dict[str, Any]] = {
    "gradio": {
        "/": ("text/html", '<!doctype html><html><head><title>Gradio</title></head><body><gradio-app>'
                           '</gradio-app><script>window.gradio_config = {"version": "4.44.1"};</script></body></html>'),
        "/config": ("application/json", '{"version": "4.44.1", "mode": "blocks", "components": [], '
                                        '"dependencies": []}'),
    },
    "a1111": {
        "/": ("text/html", "<!doctype html><html><head><title>Stable Diffusion</title></head><body><gradio-app>"
                           "</gradio-app><script>window.gradio_config = {};</script></body></html>"),
        "/config": ("application/json", '{"version": "3.41.2", "components": []}'),
        "/internal/ping": ("application/json", "{}"),
    },
    "forge": {
        "/": ("text/html", "<!doctype html><html><head><title>Stable Diffusion</title></head><body>"
                           "<gradio-app></gradio-app><script>/* stable-diffusion-webui-forge */</script></body></html>"),
        "/config": ("application/json", '{"version": "4.40.0", "components": []}'),
        "/sdapi/v1/options": ("application/json", '{"sd_model_checkpoint": "x"}'),
    },
    "comfyui": {
        "/": ("text/html", "<!DOCTYPE html><html><head><title>ComfyUI</title></head><body></body></html>"),
        "/system_stats": ("application/json", '{"system": {"os": "posix", "comfyui_version": "0.3.10"}, '
                                              '"devices": []}'),
    },
    "streamlit": {
        "/": ("text/html", '<!doctype html><html lang="en"><head><title>Streamlit</title></head><body>'
                           '<div id="root"></div><script src="./static/js/main.js"></script></body></html>'),
        "/_stcore/health": ("text/plain", "ok"),
    },
    "jupyter": {
        "/": ("text/html", '<!DOCTYPE HTML><html><head><title>Home Page - Select or create a notebook</title>'
                           '<script id="jupyter-config-data" type="application/json">{}</script></head></html>'),
        "/api": ("application/json", '{"version": "2.14.2"}'),
    },
    "ollama": {
        "/": ("text/plain", "Ollama is running"),
        "/api/version": ("application/json", '{"version": "0.5.7"}'),
    },
    "fastapi": {
        "/": ("application/json", '{"detail": "Not Found"}', 404),
        "/openapi.json": ("application/json", '{"openapi": "3.1.0", "info": {"title": "FastAPI"}}'),
    },
    "flask": {
        "/": ("text/html", "<html><body>hello</body></html>", 200, {"Server": "Werkzeug/3.0.1 Python/3.11.7"}),
    },
    "http": {
        "/": ("text/html", "<html><head><title>My tool</title></head><body>hi</body></html>"),
    },
}


def make_app(kind: str) -> web.Application:
    routes = RECORDED[kind]

    async def handle(request: web.Request) -> web.Response:
        entry = routes.get(request.path)
        if entry is None:
            return web.Response(status=404, text="not found")
        content_type, body, *rest = entry
        status = rest[0] if rest else 200
        headers = rest[1] if len(rest) > 1 else {}
        return web.Response(status=status, text=body, content_type=content_type, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class KindServer(LoopbackServer):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def make_app(self) -> web.Application:
        return make_app(self.kind)
