"""Registering routes at ComfyUI's two paths: the bare path and `/api` + path (http-api.md §1.1)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application, routes: web.RouteTableDef, *, api_alias: bool = True) -> None:
    """Add every route of `routes`; with `api_alias`, also at `/api` + its path."""
    for route in routes:
        if not isinstance(route, web.RouteDef):
            continue
        app.router.add_route(route.method, route.path, route.handler, **route.kwargs)
        if api_alias:
            app.router.add_route(route.method, "/api" + route.path, route.handler, **route.kwargs)
