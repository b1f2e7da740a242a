"""Webhook destinations: which URLs may receive webhooks, and one delivery attempt to one.

Vendors register a URL and the service POSTs signed events to it, from inside our network. An
unchecked URL would let anyone make us send requests to our own infrastructure (SSRF): the
instance metadata service (169.254.169.254, fd00:ec2::254) hands out credentials, and loopback or
private addresses reach services that trust "internal" callers. So outside the local stage a
destination must be https and every address its host resolves to must be public.

The check runs at registration (`check_url`, so the vendor sees the problem at once) and again at
each delivery (`post`): a DNS answer can change at any time, and the name's owner controls it.
`post` then connects to the very address it checked, not to the name: if the HTTP client looked
the name up again, a DNS server answering "public" to the check and "169.254.169.254" to the
connect (DNS rebinding) would get past the check. The hostname still goes into the Host header,
the TLS SNI and the certificate verification, so pinning changes nothing for the receiver.

urllib3 is imported inside `post`: this module is also imported by the API Lambda, which only
needs `check_url`, and an import costs cold-start time.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple
from urllib.parse import quote, urlsplit

MAX_URL_LENGTH = 2048
# A receiver's answer is only its status; the body is read (so a well-behaved server is not cut
# off mid-write) up to this much and discarded. A hostile one cannot make us read more.
MAX_RESPONSE_BYTES = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Any whitespace or control character: never valid in a URL, and a CR/LF would end up in the
# request line.
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_PORT = re.compile(r"[0-9]{1,5}")

# Non-public ranges that `ipaddress` does not (in every Python 3.11 patch release) exclude from
# `is_global` or flag otherwise. Belt and braces: Python's tables changed between releases.
_NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8",          # "this network": 0.0.0.0 reaches the local host on Linux
    "100.64.0.0/10",      # carrier-grade NAT (shared address space)
    "192.0.0.0/24",       # IETF protocol assignments
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",  # documentation
    "192.88.99.0/24",     # deprecated 6to4 relay anycast
    "198.18.0.0/15",      # benchmarking
    "224.0.0.0/4",        # multicast
    "240.0.0.0/4",        # reserved, incl. broadcast 255.255.255.255
    "64:ff9b:1::/48",     # local-use NAT64 (RFC 8215)
    "100::/64",           # discard-only
    "2001::/23",          # IETF protocol assignments, incl. Teredo 2001::/32
    "2001:db8::/32",      # documentation
    "fc00::/7",           # unique local (ULA), incl. AWS metadata fd00:ec2::254
    "fe80::/10",          # link-local
    "fec0::/10",          # deprecated site-local (is_global is True for it in Python 3.11)
    "ff00::/8",           # multicast
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[..., Any]


class RefusedDestination(ValueError):
    """The URL may not receive webhooks; str(exc) is a short human-readable reason (shown to API
    users as the `url` field's error)."""


class _Target(NamedTuple):
    scheme: str
    host: str               # ASCII (IDNA) hostname or IP literal, without brackets
    port: int | None        # as given in the URL; None for the scheme's default
    path: str               # path and query, as sent in the request line

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.scheme]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None or self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def is_public(address: str) -> bool:
    """Whether `address` (an IP address, as getaddrinfo returns it) is publicly routable: False
    for loopback, private, link-local, carrier-grade NAT, multicast, reserved, unspecified and
    documentation addresses, for IPv6 forms embedding an IPv4 address that is not public
    (IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96), and for anything that is
    not an IP address at all."""
    if not isinstance(address, str):
        return False
    try:
        # The zone id ("%eth0") only says which interface: fe80::1%eth0 is still link-local.
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # A connection to these reaches the embedded IPv4 address, so that address decides.
        # (Python 3.11 calls ::ffff:127.0.0.1 "global": it judges the IPv6 form only.)
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    if not ip.is_global or any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return False
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified
                or getattr(ip, "is_site_local", False))


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> str:
    """Registration check. Returns the URL (stripped) or raises RefusedDestination.

    Always: absolute http(s) URL, a host, no user:password@, no fragment, at most MAX_URL_LENGTH
    characters, port 1..65535 if given. Unless `allow_private` (the local stage, where receivers
    run on localhost): the scheme must be https, the host must resolve, and every address it
    resolves to must be public (`is_public`)."""
    url = url.strip() if isinstance(url, str) else url
    target = _parse(url)
    if not allow_private:
        _require_https(target)
        _resolve(target, allow_private=False, resolver=resolver)
    return url


def _require_https(target: _Target) -> None:
    # Over plain http anyone on the path reads the events (booking data): the signature proves
    # who sent them, it hides nothing.
    if target.scheme != "https":
        raise RefusedDestination("must use https")


def _parse(url: Any) -> _Target:
    if not isinstance(url, str) or not url:
        raise RefusedDestination("must be an absolute http(s) URL")
    # Before any parsing: do not spend time on megabytes of input.
    if len(url) > MAX_URL_LENGTH:
        raise RefusedDestination(f"is too long (at most {MAX_URL_LENGTH} characters)")
    if _BAD_CHARACTERS.search(url):
        raise RefusedDestination("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        raise RefusedDestination("must be an absolute http(s) URL") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not url[len(scheme) + 1:].startswith("//"):
        raise RefusedDestination("must be an absolute http(s) URL")
    netloc = parts.netloc
    if "@" in netloc:
        # Credentials in a URL end up in logs, and "https://good.example@evil.example/" is a
        # classic way to make a URL look like someone else's.
        raise RefusedDestination("must not contain a user name or password")
    if "#" in url:
        raise RefusedDestination("must not contain a fragment (#...)")
    host, port = _split_netloc(netloc)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Non-ASCII characters in the path (an IRI) are sent percent-encoded (as UTF-8).
    path = re.sub(r"[^\x00-\x7f]+", lambda match: quote(match.group()), path)
    return _Target(scheme, host, port, path)


def _split_netloc(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        literal, _, rest = netloc[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise RefusedDestination("has an invalid host")
        port_text = rest[1:]
        try:
            # No zone ids ("%25eth0"): only link-local addresses have them, and those are not
            # webhook receivers.
            host = str(ipaddress.IPv6Address(literal))
        except ValueError:
            raise RefusedDestination("has an invalid host") from None
    else:
        host, _, port_text = netloc.partition(":")
        if not host:
            raise RefusedDestination("must have a host")
        try:
            # Internationalised names go on the wire (DNS, Host, SNI) in their ASCII form.
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise RefusedDestination("has an invalid host") from None
        name = host[:-1] if host.endswith(".") else host
        if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in name.split(".")):
            raise RefusedDestination("has an invalid host")
    if not port_text:
        return host, None
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise RefusedDestination("has an invalid port (1 to 65535)")
    return host, int(port_text)


def _resolve(target: _Target, *, allow_private: bool, resolver: Resolver) -> str:
    """The address to connect to: the first one the host resolves to, after checking that all of
    them are public (unless `allow_private`). Checking only the one we use would be enough for
    this connection, but a name with private addresses in its answer is not a public receiver."""
    try:
        answers = resolver(target.host, target.effective_port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # socket.gaierror is an OSError
        answers = None
    addresses = [answer[4][0] for answer in answers or ()
                 if isinstance(answer[4], tuple) and isinstance(answer[4][0], str)]
    if not addresses:
        raise RefusedDestination("does not resolve")
    if not allow_private and not all(is_public(address) for address in addresses):
        # The address itself is not shown: it would tell an API user what our DNS resolver
        # answers for internal names.
        raise RefusedDestination("resolves to a non-public address")
    for address in addresses:
        try:
            ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            continue
        return address
    raise RefusedDestination("does not resolve")


@dataclass(frozen=True)
class Answer:
    """What one delivery attempt got."""
    status: int | None      # the HTTP status code, None when no response was received
    error: str | None       # None on any HTTP response; else a short reason ("timeout", ...)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool,
         resolver: Resolver = socket.getaddrinfo) -> Answer:
    """One delivery attempt: POST `body` with `headers` (plus Content-Type: application/json if
    absent) to `url`, connecting to an address checked just now (see the module docstring).

    Never follows redirects (a 3xx is just its status), never retries, takes at most `timeout`
    seconds from start to finish (DNS, connect, TLS, request, response headers, body), reads at
    most MAX_RESPONSE_BYTES of the response body and discards it. Network problems are not
    raised: they come back as Answer(None, reason), with reason "timeout", "connection refused",
    "refused destination: <why>" (the URL or its addresses fail the check), "tls error: <why>" or
    "connection error: <why>"."""
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds")
    started = time.monotonic()
    try:
        target = _parse(url.strip() if isinstance(url, str) else url)
        if not allow_private:
            _require_https(target)
        address = _within(timeout, lambda: _resolve(target, allow_private=allow_private, resolver=resolver))
    except RefusedDestination as refused:
        return Answer(None, f"refused destination: {refused}")
    except TimeoutError:
        return Answer(None, "timeout")  # a slow DNS answer counts against the attempt's time too
    remaining = timeout - (time.monotonic() - started)
    if remaining <= 0:
        return Answer(None, "timeout")
    return _deliver(target, address, body, headers, remaining)


def _within(seconds: float, work: Callable[[], str]) -> str:
    """`work()` (a DNS lookup: getaddrinfo cannot be given a timeout) in a thread of its own,
    waited for at most `seconds`; TimeoutError after that. A lookup still running is left to
    finish on its own (daemon thread): the attempt is over either way."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", work()))
        except BaseException as error:  # handed to the caller's thread
            outcome.append(("error", error))

    thread = threading.Thread(target=run, name="webhook-dns", daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise TimeoutError("the DNS lookup took longer than the attempt's timeout")
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def _deliver(target: _Target, address: str, body: bytes, headers: dict[str, str],
             timeout: float) -> Answer:
    import http.client

    import urllib3

    request_headers = {name: value for name, value in headers.items()
                       if name.lower() != "host"}
    if not any(name.lower() == "content-type" for name in request_headers):
        request_headers["Content-Type"] = "application/json"
    # We connect to an address, so the Host header must be set from the URL. (http.client and
    # urllib3 leave a Host header given by the caller alone.)
    request_headers["Host"] = target.host_header

    # A connection pool (unlike a PoolManager, or requests) reads no HTTP(S)_PROXY from the
    # environment: it connects to `address` and nowhere else.
    host = f"[{address}]" if ":" in address else address
    pool: Any
    if target.scheme == "https":
        # server_hostname: the SNI; assert_hostname: the name the certificate must be valid for.
        # Both are the URL's host, not the address we connect to.
        pool = urllib3.HTTPSConnectionPool(
            host, target.effective_port, maxsize=1, retries=False,
            timeout=urllib3.Timeout(total=timeout),
            cert_reqs="CERT_REQUIRED", ca_certs=_ca_bundle(),
            server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(
            host, target.effective_port, maxsize=1, retries=False,
            timeout=urllib3.Timeout(total=timeout))
    # Timeouts. urllib3's Timeout(total=...) bounds the connect by `timeout` and then every
    # single socket read by the time left, but not the sum of the reads: a receiver trickling one
    # byte of its TLS handshake or status line every second would hold this worker forever. So a
    # deadline on the side shuts the socket down when the time is up, which ends any read in
    # progress; whatever fails then is reported as "timeout".
    deadline = _Deadline(timeout)
    pool.ConnectionCls = _watched(pool.ConnectionCls, deadline)
    response = None
    try:
        try:
            # redirect=False (and retries=False): a redirect is the receiver's answer, not an
            # instruction. Following it would send a request to wherever the Location points,
            # e.g. the metadata service, without any check.
            response = pool.urlopen("POST", target.path, body=body, headers=request_headers,
                                    redirect=False, retries=False, preload_content=False,
                                    assert_same_host=False)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
            return Answer(None, _reason(error, deadline))
        status = int(response.status)
        try:
            received = 0
            while received < MAX_RESPONSE_BYTES and not deadline.expired:
                chunk = response.read(min(16 * 1024, MAX_RESPONSE_BYTES - received),
                                      decode_content=False)  # no decompression bombs
                if not chunk:
                    break
                received += len(chunk)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError):
            pass  # the status is what counts; the body is discarded anyway
        return Answer(status, None)
    finally:
        deadline.cancel()  # first: the watchdog must not touch a socket that is being closed
        if response is not None:
            response.close()
        pool.close()


def _ca_bundle() -> str | None:
    """The CA certificates to verify receivers with: certifi's when installed (boto3 brings it
    into the Lambda runtime), else None, which makes urllib3 use the system's."""
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


class _Deadline:
    """Shuts down the sockets given to `watch` when `seconds` have passed (unless cancelled).

    shutdown() (not close()) is safe from another thread: it wakes a blocked recv, which then
    sees the end of the stream, and the file descriptor stays the owner's to close."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


def _watched(connection_class: type, deadline: _Deadline) -> type:
    """`connection_class` with every new socket handed to `deadline`. `_new_conn` (the TCP
    connect, before any TLS) is where urllib3 1.26 and 2.x both create the socket."""

    class WatchedConnection(connection_class):  # type: ignore[valid-type,misc]
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    return WatchedConnection


def _reason(error: BaseException, deadline: _Deadline) -> str:
    """A short reason for a failed attempt, from urllib3's exception and what it wraps."""
    import ssl

    import urllib3

    if deadline.expired:
        return "timeout"
    chain = _causes(error)
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _short(f"tls error: certificate verify failed: {cause.verify_message}")
    for cause in chain:
        if isinstance(cause, (urllib3.exceptions.SSLError, ssl.SSLError, ssl.CertificateError)):
            innermost = [c for c in chain if isinstance(c, ssl.SSLError)]
            return _short(f"tls error: {innermost[-1] if innermost else cause}")
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, (socket.timeout, urllib3.exceptions.ConnectTimeoutError,
                              urllib3.exceptions.ReadTimeoutError)) \
                and not isinstance(cause, urllib3.exceptions.NewConnectionError):
            # (NewConnectionError is a ConnectTimeoutError in both urllib3 versions.)
            return "timeout"
    innermost = chain[-1]
    return _short(f"connection error: {innermost}" if str(innermost)
                  else f"connection error: {type(innermost).__name__}")


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    # urllib3 1.26 wraps without chaining, keeping the original as `reason` or first argument.
    for wrapped in list(chain):
        inner = getattr(wrapped, "reason", None)
        if isinstance(inner, BaseException) and inner not in chain:
            chain.append(inner)
    return chain


def _short(text: str) -> str:
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", " ".join(text.split()))
    return text if len(text) <= 200 else text[:197] + "..."
