"""`chalice local` for the local stack, with its gateway answering the way API.md says.

Chalice's local gateway answers a path with no route as API Gateway does by default
(403 "Missing Authentication Token"); deployed, a gateway response (infra) turns that into our
404 error body. Here a request handler subclass does the same, so local runs match production,
and it also takes over what `http.server` would answer with an HTML page:

- a method the path does not take, including tokens Chalice's handler has no `do_` method for
  (TRACE, CONNECT, PROPFIND, anything): 405 METHOD_NOT_ALLOWED with `Allow`; on a path with no
  route: 404 NOT_FOUND;
- HEAD: exactly what GET would answer (status, headers, Content-Length), without the body;
- OPTIONS: 204 with `Allow` (and the CORS headers Chalice generates, for routes with CORS);
- malformed requests (bad request line, oversized headers): our JSON error body.

Every answer is JSON in the error shape of API.md, with an `X-Request-Id`. Everything else is
Chalice's own local server, loaded the way `chalice local --stage` loads it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, ForbiddenError, LocalChalice,
                           LocalDevServer, LocalGatewayException, RouteMatcher, ThreadedHTTPServer)

from chalicelib.core.http import error_body, request_id_from


class ItineraHTTPServer(ThreadedHTTPServer):
    # socketserver's default backlog of 5 resets connections when many clients arrive at once
    # (API Gateway never does that); a burst of 50 concurrent bookings must queue, not fail.
    request_queue_size = 256


class ItineraRequestHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        # Set before the base constructor: it handles the request before returning.
        self._app_routes = app_object.routes
        super().__init__(request, client_address, server, app_object, config)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server dispatches to do_<METHOD> and answers 501 with an HTML page when there is
        # none; every method token comes here instead, and the route table answers 404 or 405.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        headers, body = self._parse_payload()  # read even when refused: the connection is reused
        route = self._route_for(self.path)
        if route is None:
            self._send_not_found()
            return
        views = self._app_routes[route]
        method = self.command
        if method == "HEAD" and "HEAD" not in views:
            method = "GET"  # HEAD is GET without the body (see _send_http_response_with_body)
        if method == "OPTIONS" and "OPTIONS" not in views:
            self._send_options(route)
            return
        if method not in views:
            self._send_method_not_allowed(route)
            return
        try:
            response = self.local_gateway.handle_request(method=method, path=self.path, headers=headers, body=body)
        except LocalGatewayException as error:
            self._send_error_response(error)
            return
        response_headers = response["headers"].copy()
        response_headers.update(response["multiValueHeaders"])
        response = self._handle_binary(response)
        self._send_http_response(response["statusCode"], response_headers, response["body"])

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle

    # --- routing -----------------------------------------------------------------------------

    def _route_for(self, path: str) -> str | None:
        try:
            return RouteMatcher(list(self._app_routes)).match_route(path).route
        except ValueError:
            return None

    def _allowed(self, route: str) -> list[str]:
        methods = set(self._app_routes[route]) | {"OPTIONS"}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)

    # --- answers the gateway gives itself ------------------------------------------------------

    def _request_id(self) -> str:
        return request_id_from(getattr(self, "headers", None))

    def _send_json_error(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                         headers: dict[str, str] | None = None) -> None:
        body = json.dumps(error_body(code, message, details)).encode()
        self._send_http_response(status, {"Content-Type": "application/json", "X-Request-Id": self._request_id(),
                                          **(headers or {})}, body)

    def _send_not_found(self) -> None:
        self._send_json_error(404, "NOT_FOUND", f"No route for {self.command} {self.path.split('?')[0]}.")

    def _send_method_not_allowed(self, route: str) -> None:
        allowed = self._allowed(route)
        self._send_json_error(405, "METHOD_NOT_ALLOWED", f"Unsupported method: {self.command}",
                              {"allowed_methods": allowed}, {"Allow": ", ".join(allowed)})

    def _send_options(self, route: str) -> None:
        headers = {"Allow": ", ".join(self._allowed(route)), "X-Request-Id": self._request_id()}
        if any(view.cors for view in self._app_routes[route].values()):
            event = {"requestContext": {"resourcePath": route}}
            headers.update(self.local_gateway._autogen_options_headers(event))
        self.send_response(204)  # no Content-Length on a 204 (RFC 9110, 8.6)
        self._send_headers(headers)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError):  # API Gateway's "no route" answer
            self._send_not_found()
            return
        # Chalice's local authorizers (none of our routes uses one) fail with 401 or 500.
        code = {401: "UNAUTHENTICATED", 403: "FORBIDDEN"}.get(error.CODE, "INTERNAL_ERROR")
        self._send_json_error(error.CODE, code, "The request was refused by the gateway's authorizer.")

    def parse_request(self) -> bool:
        self.headers = None  # a request line that fails to parse must not reuse the last request's id
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server answers by itself (a malformed request line, headers too long, ...):
        our JSON error body instead of its HTML page."""
        short, long = self.responses.get(code, ("Error", ""))
        self.log_error("code %d, message %s", code, message or short)
        body = json.dumps(error_body("NOT_FOUND" if code == 404 else "VALIDATION_ERROR",
                                     message or explain or long or short)).encode()
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", self._request_id())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # GET's status and headers, Content-Length included; no body (RFC 9110, 9.3.2).
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        sys.stderr.write("api: " + (format % args) + "\n")


def make_server(host: str, port: int, stage: str) -> LocalDevServer:
    """Chalice's local server for the app of `stage`, answering with our request handler."""
    project_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    factory = CLIFactory(project_dir, environ=os.environ)
    # Same loading, route validation and per-thread request objects as `chalice local`
    # (chalice.cli.create_local_server); only the handler class differs.
    config = factory.create_config_obj(chalice_stage_name=stage)
    app_obj = config.chalice_app
    validate_routes(app_obj.routes)
    CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
    app_obj.__class__ = CustomLocalChalice
    return LocalDevServer(app_obj, config, host, port, handler_cls=ItineraRequestHandler,
                          server_cls=ItineraHTTPServer)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.stage)
    except OSError as exc:
        sys.exit(f"api: cannot listen on {args.host}:{args.port}: {exc.strerror}")
    server.serve_forever()


if __name__ == "__main__":
    main()
