"""The route table, resolved once at start: static paths in a dict, the few parameterised ones in a list."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from authgate.errors import MethodNotAllowed, RouteNotFound
from authgate.http.request import Request
from authgate.http.responses import Response

Handler = Callable[[Request], Awaitable[Response]]

_PARAM = re.compile(r"\{([a-z_]+)\}")


class Route:
    __slots__ = ("handler", "method", "name", "template")

    def __init__(self, method: str, template: str, handler: Handler, name: str) -> None:
        self.method = method
        self.template = template
        self.handler = handler
        self.name = name


class Router:
    def __init__(self) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, name: str | None = None) -> None:
        route = Route(method, template, handler, name or handler.__name__)
        self.routes.append(route)
        if "{" not in template:
            self._static.setdefault(template, {})[method] = route
            return
        pattern = re.compile("^" + _PARAM.sub(r"(?P<\1>[^/]+)", template) + "$")
        for existing, methods in self._dynamic:
            if existing.pattern == pattern.pattern:
                methods[method] = route
                return
        self._dynamic.append((pattern, {method: route}))

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        methods = self._static.get(path)
        params: dict[str, str] = {}
        if methods is None:
            for pattern, candidates in self._dynamic:
                match = pattern.match(path)
                if match:
                    methods, params = candidates, match.groupdict()
                    break
            else:
                raise RouteNotFound(f"No resource at {path[:200]}")
        route = methods.get(method)
        if route is None:
            if method == "HEAD" and "GET" in methods:
                return methods["GET"], params
            raise MethodNotAllowed(sorted(methods))
        return route, params
