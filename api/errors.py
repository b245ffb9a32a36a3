"""One error body for every refusal the API makes, and where the OpenAPI document says so.

Every 4xx and 5xx answer is ``{"detail": {"code", "message", "parameter"?, "errors"?}}``:
``code`` is a stable kebab-case word a client can branch on (``unknown-alarm``,
``invalid-parameter``, ``gateway-unreachable``), ``message`` says what is wrong and how to
fix it, ``parameter`` names the query/path/body field at fault, and ``errors`` lists each
field FastAPI's own request validation refused. A client (or schemathesis) that reads the
published schema gets exactly what the server sends: ``install`` turns every raised error
into this shape, ``document`` declares it once on every route of each router the app includes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.utils import get_flat_params
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.reader import StoreUnavailable

# the code an error gets when the code that raised it gave only a message
DEFAULT_CODES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 409: "conflict", 422: "invalid-parameter",
                 503: "unavailable"}
DESCRIPTIONS = {
    400: "the body is not JSON at all (`bad-request`)",
    401: "no API key, or one this API does not know (`missing-api-key`, `unknown-api-key`)",
    403: "the key's role or sites do not allow this (`read-only`, `acknowledge-only`, "
         "`officer-only`, `site-not-allowed`, `not-a-signer`)",
    404: "nothing by that id (`unknown-point`, `unknown-alarm`, `unknown-unit`, "
         "`unknown-exceedance`, `not-found`)",
    409: "the state does not allow it now (e.g. `already-acknowledged`, `day-open`, "
         "`already-signed`, `illegal-step`)",
    422: "a parameter or body field is wrong: `invalid-parameter` names it in `parameter`; "
         "`invalid-request` lists FastAPI's field errors in `errors`",
    503: "the store cannot be read (`store-unavailable`) or the gateway did not answer a "
         "command (`gateway-unreachable`: nothing was changed)",
}


class FieldError(BaseModel):
    """One field FastAPI's request validation refused (its own ``loc``/``msg``/``type``)."""

    loc: list[str | int] = Field(description="where: e.g. ['query', 'limit'], ['body', 'user']")
    msg: str
    type: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable kebab-case error code, e.g. invalid-parameter")
    message: str = Field(description="what is wrong, and how to put it right")
    parameter: str | None = Field(default=None,
                                  description="the query, path or body field at fault")
    errors: list[FieldError] | None = Field(
        default=None, description="each refused field (invalid-request only)")


class ErrorBody(BaseModel):
    """What every 4xx and 5xx answer of this API looks like."""

    detail: ErrorDetail


def error(status: int, code: str, message: str, parameter: str | None = None,
          headers: dict[str, str] | None = None) -> HTTPException:
    """An HTTP error in the shared shape, ready to raise."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if parameter is not None:
        detail["parameter"] = parameter
    return HTTPException(status, detail=detail, headers=headers)


def as_detail(status: int, detail: Any) -> dict[str, Any]:
    """Whatever an HTTPException carries as the shared detail (strings get a default code)."""
    if isinstance(detail, dict) and isinstance(detail.get("code"), str) \
            and isinstance(detail.get("message"), str):
        return detail
    return {"code": DEFAULT_CODES.get(status, "error"), "message": str(detail)}


def _field(loc: Any) -> str | None:
    names = [str(part) for part in loc if not isinstance(part, int)]
    return names[-1] if len(names) > 1 else None  # ['query', 'limit'] -> 'limit'


def validation_detail(exc: RequestValidationError) -> dict[str, Any]:
    problems = [{"loc": list(jsonable_encoder(e.get("loc", ()))), "msg": str(e.get("msg", "")),
                 "type": str(e.get("type", ""))} for e in exc.errors()]
    fields = {_field(p["loc"]) for p in problems}
    text = "; ".join(f"{'.'.join(str(x) for x in p['loc'])}: {p['msg']}" for p in problems)
    return {"code": "invalid-request", "message": text or "the request is not valid",
            "parameter": fields.pop() if len(fields) == 1 else None, "errors": problems}


def install(app: FastAPI) -> None:
    """Answer every HTTP, validation and store error in the shared shape."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code in (204, 304) or exc.status_code < 200:
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse({"detail": as_detail(exc.status_code, exc.detail)},
                            status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc)}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": {"code": "store-unavailable",
                                        "message": f"store unavailable: {exc}"}},
                            status_code=503)


def statuses(route: APIRoute, public: Collection[str]) -> list[int]:
    """The error statuses a route can answer: what ``document`` declares for it."""
    found = [400] if route.body_field is not None else []  # a body that is not even JSON
    found += [] if route.path in public else [401, 403]
    if "{" in route.path:
        found.append(404)  # an id that names nothing
    if "POST" in (route.methods or ()):
        found.append(409)  # every command and records step refuses what the state forbids
    if route.body_field is not None or get_flat_params(route.dependant):
        found.append(422)
    return [*found, 503]


def _declaration(route: APIRoute, status: int) -> dict[str, Any]:
    """FastAPI files an extra response under the route's own media type; errors are JSON
    whatever the route answers (the board's HTML), so those routes name the type outright."""
    kind = getattr(route.response_class, "value", route.response_class)  # unwrap the default
    if getattr(kind, "media_type", None) in (None, "application/json"):
        return {"model": ErrorBody, "description": DESCRIPTIONS[status]}
    return {"description": DESCRIPTIONS[status], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}


def document(router: APIRouter, public: Collection[str]) -> APIRouter:
    """Declare the shared error body on each route of ``router`` (call before including it);
    ``public`` paths need no API key, so they answer no 401 or 403."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            for status in statuses(route, public):
                route.responses.setdefault(status, _declaration(route, status))
    return router
