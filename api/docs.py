"""``/docs`` (Swagger UI) and ``/redoc`` served with no CDN: a plant network is often offline.

FastAPI's default pages load their JavaScript, CSS, favicon and fonts from public CDNs, so
on an isolated plant network they are blank. The assets come instead from the installed
``fastapi-offline`` package (its ``static/`` folder holds ``swagger-ui-bundle.js``,
``swagger-ui.css``, ``redoc.standalone.js`` and ``favicon.png``) and are served by the API
itself under ``/docs/static``. Two calls home are cut as well: Swagger UI's online
validator badge (validator.swagger.io) is switched off, and ReDoc's sidebar logo, which its
bundle loads from cdn.redoc.ly, is replaced by an empty inline image when the bundle is
served. Like the default pages, these are public (``api.auth.PUBLIC_PATHS``; the asset
routes are added before ``api.auth.install`` and a static mount is outside the routers'
dependencies).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/docs/static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


def assets_dir() -> Path:
    """The folder of the packaged assets; raises naming the package if one is missing."""
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [a for a in ASSETS if not (folder / a).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline at {folder} lacks {missing}: reinstall it")
    return folder


def install(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add the two pages, Swagger's OAuth2 redirect and the static assets to ``app``.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI adds no CDN pages.
    """
    folder = assets_dir()
    redoc_js = (folder / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO, EMPTY_IMAGE)

    @app.get(f"{STATIC_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_bundle() -> Response:
        return Response(redoc_js, media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(STATIC_URL, StaticFiles(directory=folder), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}

    def static(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{STATIC_URL}/{name}"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=static(request, "swagger-ui-bundle.js"),
            swagger_css_url=static(request, "swagger-ui.css"),
            swagger_favicon_url=static(request, "favicon.png"),
            swagger_ui_parameters=parameters)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=static(request, "redoc.standalone.js"),
            redoc_favicon_url=static(request, "favicon.png"), with_google_fonts=False)
