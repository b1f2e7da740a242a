"""The web app on the local stack: its static files, and the API under /api on the same origin.

    python -m tools.web_server --port 8080 --api http://127.0.0.1:8000

Deployed, CloudFront serves the same files from S3 and sends /api/* to API Gateway (infra), so
the app calls the API at a relative /api on every stage and needs no CORS. Here one
ThreadingHTTPServer does both:

- /api/<path> is forwarded to the API as it is (method, headers, body) and its answer returned
  as it is; if the API is down the answer is a 502 in API.md's error shape, never an HTML page;
- /config.json tells the app its API base and payment provider (src/config.js);
- /vendor/swagger-ui/ is swagger-ui-dist from web/node_modules (npm ci), for /docs;
- everything else is a file under web/ (index.html for /), with a Content-Security-Policy that
  allows only this origin: nothing is fetched from a CDN.
"""
from __future__ import annotations

import argparse
import http.client
import json
import posixpath
import threading
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
SWAGGER_UI = WEB_ROOT / "node_modules" / "swagger-ui-dist"
# Never forwarded: they describe one connection, not the request (RFC 9110 section 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'")
# With Stripe as the provider the payment page loads Stripe.js, which talks to Stripe and shows
# the card field in Stripe's own frame: card data goes from the browser to Stripe only.
STRIPE_CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: https://*.stripe.com; "
                                  "style-src 'self' 'unsafe-inline'; script-src 'self' https://js.stripe.com; "
                                  "connect-src 'self' https://api.stripe.com; "
                                  "frame-src https://js.stripe.com https://hooks.stripe.com; "
                                  "frame-ancestors 'none'; base-uri 'self'")
MAX_BODY = 1024 * 1024  # the API refuses bodies over 64 KB itself; this only bounds the proxy


def site_config(*, stage: str = "local", payment_provider: str = "local",
                stripe_publishable_key: str | None = None) -> dict[str, Any]:
    """What /config.json says (web/src/config.js reads it)."""
    return {"api": "/api", "stage": stage, "payment_provider": payment_provider,
            "stripe_publishable_key": stripe_publishable_key}


class WebHandler(SimpleHTTPRequestHandler):
    server_version = "ItineraWeb"
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: Any, api: tuple[str, int], config: dict[str, Any], **kwargs: Any) -> None:
        self.api = api
        self.config = config
        super().__init__(*args, directory=str(WEB_ROOT), **kwargs)

    # --- dispatch -------------------------------------------------------------------------
    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path

    def _is_api(self) -> bool:
        path = self._path()
        return path == "/api" or path.startswith("/api/")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._static_or_api(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._static_or_api(head=True)

    def _static_or_api(self, *, head: bool) -> None:
        path = self._path()
        if self._is_api():
            return self._forward()
        if path == "/config.json":
            return self._json(200, self.config, head=head)
        if path == "/docs":
            self.send_response(301)
            self.send_header("Location", "/docs/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if _not_served(path):
            return self._json(404, _error("NOT_FOUND", "No such file."), head=head)
        return super().do_HEAD() if head else super().do_GET()

    def do_POST(self) -> None:  # noqa: N802
        self._api_only()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def _api_only(self) -> None:
        if self._is_api():
            self._forward()
        else:
            self._json(405, _error("METHOD_NOT_ALLOWED", "The web app's files are read with GET."),
                       extra={"Allow": "GET, HEAD"})

    # --- static files ---------------------------------------------------------------------
    def translate_path(self, path: str) -> str:
        clean = posixpath.normpath(urllib.parse.unquote(urllib.parse.urlsplit(path).path))
        if clean.startswith("/vendor/swagger-ui/"):
            return str(SWAGGER_UI / clean.removeprefix("/vendor/swagger-ui/"))
        return super().translate_path(path)

    def list_directory(self, path: str) -> None:  # type: ignore[override]
        # No directory listings (http.server's are HTML pages of the tree).
        self.send_error(404, "No such file.")
        return None

    def end_headers(self) -> None:
        if not self._is_api():
            stripe = self.config.get("payment_provider") == "stripe"
            self.send_header("Content-Security-Policy",
                             STRIPE_CONTENT_SECURITY_POLICY if stripe else CONTENT_SECURITY_POLICY)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "same-origin")
            self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server answers errors with an HTML page; the site answers JSON like the API.
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 400: "VALIDATION_ERROR"}
        self._json(code, _error(codes.get(code, "VALIDATION_ERROR" if code < 500 else "INTERNAL_ERROR"),
                                message or "The request could not be served."),
                   head=self.command == "HEAD")

    # --- the API ----------------------------------------------------------------------------
    def _forward(self) -> None:
        # Only bodies with a plain Content-Length: a chunked or malformed one could leave bytes on
        # the connection that would be read as another request (request smuggling).
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, "LENGTH_REQUIRED", "Send the body with a Content-Length.")
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            return self._refuse(400, "VALIDATION_ERROR", "Content-Length must be a whole number of bytes.")
        length = int(declared)
        if length > MAX_BODY:
            return self._refuse(413, "PAYLOAD_TOO_LARGE", "The body is too large.")
        body = self.rfile.read(length) if length else None
        upstream_path = self.path[len("/api"):] or "/"
        if not upstream_path.startswith("/"):
            upstream_path = "/" + upstream_path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self.api, timeout=60)
        try:
            connection.request(self.command, upstream_path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (http.client.InvalidURL, ValueError):
            return self._refuse(400, "VALIDATION_ERROR", "The request's path or headers are not valid.")
        except (OSError, http.client.HTTPException):
            return self._json(502, _error("BAD_GATEWAY", "The API is not reachable right now. Try again shortly."))
        finally:
            connection.close()
        # The API's own status line and headers (its Date and Server included), not ours as well.
        self.send_response_only(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return None

    def _refuse(self, status: int, code: str, message: str) -> None:
        """A JSON error, then the connection closes: what is left of the request is never read."""
        self.close_connection = True
        self._json(status, _error(code, message), extra={"Connection": "close"})

    def _json(self, status: int, body: dict[str, Any], *, head: bool = False,
              extra: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        pass  # the API logs every request; the site's file reads are noise


def _not_served(path: str) -> bool:
    """npm's files stay private (only /vendor/swagger-ui/ maps into node_modules), however the
    path is spelled: /./package.json, /%70ackage.json, /src/../node_modules/..."""
    clean = posixpath.normpath(urllib.parse.unquote(path))
    segments = [segment for segment in clean.split("/") if segment]
    return "node_modules" in segments or (len(segments) == 1 and segments[0].startswith("package"))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}}}


class WebServer:
    """The site on 127.0.0.1:<port> in a background thread (tools.stack starts one)."""

    def __init__(self, port: int, api_port: int, config: dict[str, Any] | None = None,
                 host: str = "127.0.0.1") -> None:
        handler = partial(WebHandler, api=("127.0.0.1", api_port), config=config or site_config())
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web", daemon=True)

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the web app with the API under /api.")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--api-port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = WebServer(args.port, args.api_port)
    print(f"Web app on http://127.0.0.1:{args.port} (API 127.0.0.1:{args.api_port} under /api)", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
