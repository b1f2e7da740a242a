"""`chalice local` for the local stack, with one change: unknown routes answer like the API.

Chalice's local gateway answers a path with no route as API Gateway does by default
(403 "Missing Authentication Token"). Deployed, a gateway response (infra) turns that into our
404 error body; here a request handler subclass does the same, so local runs match production.
Everything else is Chalice's own local server, loaded the way `chalice local --stage` loads it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import (ChaliceRequestHandler, CustomLocalChalice, ForbiddenError, LocalChalice,
                           LocalDevServer, LocalGatewayException, ThreadedHTTPServer)


class ItineraHTTPServer(ThreadedHTTPServer):
    # socketserver's default backlog of 5 resets connections when many clients arrive at once
    # (API Gateway never does that); a burst of 50 concurrent bookings must queue, not fail.
    request_queue_size = 256


class ItineraRequestHandler(ChaliceRequestHandler):
    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError):
            request_id = self.headers.get("x-request-id") or str(uuid.uuid4())
            body = json.dumps({"error": {"code": "NOT_FOUND", "message": f"No route for {self.command} {self.path.split('?')[0]}.",
                                         "details": {}}}).encode()
            self._send_http_response(404, {"Content-Type": "application/json", "X-Request-Id": request_id}, body)
            return
        super()._send_error_response(error)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        sys.stderr.write("api: " + (format % args) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args(argv)
    project_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    factory = CLIFactory(project_dir, environ=os.environ)
    # Same loading, route validation and per-thread request objects as `chalice local`
    # (chalice.cli.create_local_server); only the handler class differs.
    config = factory.create_config_obj(chalice_stage_name=args.stage)
    app_obj = config.chalice_app
    validate_routes(app_obj.routes)
    CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)
    app_obj.__class__ = CustomLocalChalice
    try:
        server = LocalDevServer(app_obj, config, args.host, args.port, handler_cls=ItineraRequestHandler,
                                server_cls=ItineraHTTPServer)
    except OSError as exc:
        sys.exit(f"api: cannot listen on {args.host}:{args.port}: {exc.strerror}")
    server.serve_forever()


if __name__ == "__main__":
    main()
