"""The live dashboard: a Starlette app over :class:`._live.LiveStore`.

Routes (all GET, all read-only):

- ``/``: the page (``_static/dashboard.html``); ``/static/dashboard.js`` and
  ``/static/plotly.js`` (served from the installed plotly package, no CDN);
- ``/api/studies``: every study with its progress;
- ``/api/studies/{name}/changes?cursor=N``: trials changed after store cursor ``N``;
- ``/api/studies/{name}/figures?names=a,b``: plotly figure JSON.

Answers are standard JSON: a non-finite number is the string ``"NaN"``,
``"Infinity"`` or ``"-Infinity"`` (see :mod:`hpo_service._common.standard_json`),
except in plotly's figures, which draw it as a gap (``null``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from hpo_service._common.standard_json import json_safe
from hpo_service.exceptions import StoreError, StoreNotFoundError, StudyNotFoundError
from hpo_service.insight._live import FIGURES, LiveStore

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from hpo_service.store import BaseTrialStore

_logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _static(name: str) -> str:
    if name == "plotly.js":
        return _plotly_js()
    return resources.files("hpo_service.insight").joinpath("_static", name).read_text()


#: Host names a request may address by default: the loopback interface's.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def create_app(
    store: BaseTrialStore,
    *,
    study: str | None = None,
    allowed_hosts: Iterable[str] = LOCAL_HOSTS,
) -> Starlette:
    """The dashboard's ASGI app over an open store.

    Requests whose ``Host`` header names another host are refused (400), so a web
    page on another site cannot read the studies through a DNS name rebound to this
    machine (DNS rebinding); Starlette's ``TrustedHostMiddleware`` checks it.

    Args:
        store: The trials store (only read).
        study: The study shown first, or None for the first in the list.
        allowed_hosts: Host names or IP addresses (IPv6 in brackets, no port) a
            request's ``Host`` may name; ``"*"`` allows any. The loopback names by
            default.

    Returns:
        A Starlette application (serve it with uvicorn or any ASGI server).
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.routing import Route

    routes = _Routes(LiveStore(store), study)
    hosts = Middleware(
        TrustedHostMiddleware, allowed_hosts=list(allowed_hosts), www_redirect=False
    )
    return Starlette(routes=[
        Route("/", routes.page),
        Route("/static/{name}", routes.static),
        Route("/api/studies", routes.studies),
        Route("/api/studies/{name:path}/changes", routes.changes),
        Route("/api/studies/{name:path}/figures", routes.figures),
    ], middleware=[hosts])  # fmt: skip


class _Routes:
    """The request handlers (each a GET; bad arguments answer 400, unknown studies
    404, a failing store 503, all as ``{"error": message}``)."""

    def __init__(self, live: LiveStore, study: str | None) -> None:
        self.live = live
        self.study = study

    def page(self, request: Request) -> Response:
        """The page, told which study to show first."""
        from starlette.responses import HTMLResponse

        html = _static("dashboard.html").replace("__INITIAL_STUDY__", _js(self.study))
        return HTMLResponse(html)

    def static(self, request: Request) -> Response:
        """``dashboard.js`` (never cached) or ``plotly.js`` (cached for an hour)."""
        from starlette.responses import Response

        name = request.path_params["name"]
        if name not in ("dashboard.js", "plotly.js"):
            return Response("not found", status_code=404)
        cache = "max-age=3600" if name == "plotly.js" else "no-cache"
        return Response(_static(name), media_type="application/javascript",
                        headers={"Cache-Control": cache})  # fmt: skip

    def studies(self, request: Request) -> Response:
        """Every study with its progress."""
        return _for_study(None, lambda: {"studies": self.live.studies()})

    def changes(self, request: Request) -> Response:
        """Trials changed after ``?cursor=N`` (a store cursor; 0 gives them all)."""
        name = request.path_params["name"]
        try:
            cursor = int(request.query_params.get("cursor", "0"))
        except ValueError:
            return _error(400, "`cursor` must be an integer")
        if cursor < 0:
            return _error(400, f"`cursor` must be >= 0, but got cursor={cursor}")
        return _for_study(name, lambda: self.live.changes(name, cursor))

    def figures(self, request: Request) -> Response:
        """Plotly figure JSON for ``?names=a,b`` (default: every figure)."""
        name = request.path_params["name"]
        wanted = request.query_params.get("names", ",".join(FIGURES)).split(",")
        unknown = sorted(set(wanted) - set(FIGURES))
        if unknown:
            return _error(400, f"unknown figures {unknown}; known: {list(FIGURES)}")
        return _for_study(name, lambda: self.live.figures(name, wanted))


def _for_study(name: str | None, read: Callable[[], Any]) -> Response:
    """``read()`` as JSON (text is sent as it is); 404 if the study ``name`` is
    unknown, 503 with the reason (logged in one line) if the store fails."""
    from starlette.responses import JSONResponse, Response

    try:
        content = read()
    except StudyNotFoundError:
        return _error(404, f"no study named {name!r}")
    except StoreNotFoundError as e:  # no database yet: said once, at start-up
        return _error(503, f"cannot read the store: {e}")
    except StoreError as e:  # unreachable past retry_timeout, lost, ...
        _logger.warning("cannot read the store: %s", e)
        return _error(503, f"cannot read the store: {e}")
    if isinstance(content, str):  # plotly's JSON: non-finite numbers are null
        return Response(content, media_type="application/json")
    return JSONResponse(json_safe(content))


def _error(status: int, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _js(value: str | None) -> str:
    import json

    return json.dumps(value).replace("<", "\\u003c")
