"""Webhook destinations: which URLs may receive webhooks (no SSRF), and one delivery attempt.

DNS is faked (a resolver returning chosen addresses); deliveries go to a real HTTP(S) server on
the loopback interface, which the fake resolver calls "receiver.test".
"""
from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.notify import destinations
from chalicelib.notify.destinations import (
    MAX_URL_LENGTH, Answer, RefusedDestination, check_url, is_public, post,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
HOOK = "https://hooks.example.com/itinera"


def resolving_to(*addresses: str):
    """A getaddrinfo stand-in answering every name with `addresses`; records its calls."""
    def resolver(host, port, family=0, type=0, proto=0, flags=0):
        resolver.calls.append((host, port, type))
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
                if ":" in address else
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in addresses]
    resolver.calls = []
    return resolver


def not_resolving(host, port, family=0, type=0, proto=0, flags=0):
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def must_not_resolve(*args, **kwargs):
    raise AssertionError("resolved a name it had no reason to resolve")


# --- is_public --------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["8.8.8.8", PUBLIC_V4, "2606:4700:4700::1111", PUBLIC_V6])
def test_public_addresses_are_public(address):
    assert is_public(address)


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_ipv6_forms_of_a_public_ipv4_address_are_public(address):
    assert is_public(address)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "::1",                                # loopback
    "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",      # RFC 1918
    "169.254.169.254", "169.254.1.1", "fe80::1",                    # link-local, EC2 metadata
    "fd00:ec2::254", "fc00::1",                                     # ULA, EC2 metadata (IPv6)
    "100.64.0.1", "100.127.255.254",                                # carrier-grade NAT
    "0.0.0.0", "::",                                                # unspecified
    "224.0.0.1", "239.255.255.250", "ff02::1",                      # multicast
    "240.0.0.1", "255.255.255.255",                                 # reserved, broadcast
    "192.0.2.1", "198.18.0.1", "2001:db8::1",                       # documentation, benchmark
    "fec0::1",                                                      # deprecated site-local
    "2001::1",                                                      # Teredo
])
def test_non_public_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", [
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",  # IPv4-mapped
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",                             # 6to4
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1",       # NAT64
    "::127.0.0.1",                                                     # IPv4-compatible
])
def test_ipv6_forms_embedding_a_non_public_ipv4_address_are_not_public(address):
    assert not is_public(address)


def test_a_zone_id_does_not_hide_a_link_local_address():
    assert not is_public("fe80::1%eth0")


@pytest.mark.parametrize("text", ["", "hooks.example.com", "999.1.1.1", "::g"])
def test_what_is_not_an_ip_address_is_not_public(text):
    assert not is_public(text)


# --- check_url: the address check ---------------------------------------------------------------

def test_an_https_url_resolving_to_public_addresses_is_accepted_stripped():
    assert check_url(f"  {HOOK}?v=1 \n", allow_private=False,
                     resolver=resolving_to(PUBLIC_V4, PUBLIC_V6)) == f"{HOOK}?v=1"


def test_the_host_is_resolved_for_a_stream_connection_on_the_urls_port():
    resolver = resolving_to(PUBLIC_V4)
    check_url(HOOK, allow_private=False, resolver=resolver)
    check_url("https://hooks.example.com:8443/x", allow_private=False, resolver=resolver)
    assert resolver.calls == [("hooks.example.com", 443, socket.SOCK_STREAM),
                              ("hooks.example.com", 8443, socket.SOCK_STREAM)]


def test_an_internationalised_host_is_resolved_in_its_ascii_form():
    resolver = resolving_to(PUBLIC_V4)
    check_url("https://bücher.example/hook", allow_private=False, resolver=resolver)
    assert resolver.calls[0][0] == "xn--bcher-kva.example"


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.0.10", "169.254.169.254",
    "fd00:ec2::254", "100.64.0.1", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.251", "ff02::1",
    "fe80::1%eth0",
])
def test_a_host_resolving_to_a_non_public_address_is_refused(address):
    with pytest.raises(RefusedDestination, match="non-public address"):
        check_url(HOOK, allow_private=False, resolver=resolving_to(address))


def test_one_non_public_address_among_public_ones_is_enough_to_refuse():
    with pytest.raises(RefusedDestination, match="non-public address"):
        check_url(HOOK, allow_private=False, resolver=resolving_to(PUBLIC_V4, "10.0.0.1"))


def test_the_refusal_does_not_reveal_the_address():
    with pytest.raises(RefusedDestination) as refused:
        check_url(HOOK, allow_private=False, resolver=resolving_to("10.20.30.40"))
    assert "10.20.30.40" not in str(refused.value)


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://[::1]/hook",
                                 "https://169.254.169.254/latest/meta-data/",
                                 "https://2130706433/hook"])
def test_an_ip_literal_host_is_checked_too(url):
    # The real getaddrinfo: numeric hosts are parsed, not looked up ("2130706433" is 127.0.0.1).
    with pytest.raises(RefusedDestination, match="non-public address"):
        check_url(url, allow_private=False)


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(RefusedDestination, match="^does not resolve$"):
        check_url(HOOK, allow_private=False, resolver=not_resolving)


def test_an_empty_dns_answer_is_refused():
    with pytest.raises(RefusedDestination, match="^does not resolve$"):
        check_url(HOOK, allow_private=False, resolver=resolving_to())


def test_http_is_refused_outside_the_local_stage():
    with pytest.raises(RefusedDestination, match="https"):
        check_url("http://hooks.example.com/itinera", allow_private=False,
                  resolver=resolving_to(PUBLIC_V4))


@pytest.mark.parametrize("url", ["http://localhost:8080/hook", "http://127.0.0.1:9000/",
                                 "https://10.0.0.5/hook", "http://[::1]:8080/hook",
                                 "http://no-such-host.invalid/hook"])
def test_the_local_stage_allows_any_address_without_resolving(url):
    assert check_url(url, allow_private=True, resolver=must_not_resolve) == url


# --- check_url: the URL's form -----------------------------------------------------------------

@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize("url", ["https://user:secret@hooks.example.com/x",
                                 "https://user@hooks.example.com/x",
                                 "https://hooks.example.com@evil.example/x"])
def test_credentials_in_the_url_are_refused(url, allow_private):
    with pytest.raises(RefusedDestination, match="user name or password"):
        check_url(url, allow_private=allow_private, resolver=resolving_to(PUBLIC_V4))


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "file:///etc/passwd",
                                 "gopher://hooks.example.com/", "javascript:alert(1)",
                                 "hooks.example.com/x", "/relative/path", "https:hooks.example.com",
                                 ""])
def test_anything_but_an_absolute_http_url_is_refused(url):
    with pytest.raises(RefusedDestination, match="absolute http"):
        check_url(url, allow_private=True)


def test_a_url_longer_than_the_maximum_is_refused():
    url = HOOK + "/" + "a" * (MAX_URL_LENGTH - len(HOOK))
    assert len(url) == MAX_URL_LENGTH + 1
    with pytest.raises(RefusedDestination, match="too long"):
        check_url(url, allow_private=True)


def test_a_url_of_exactly_the_maximum_length_is_accepted():
    url = HOOK + "/" + "a" * (MAX_URL_LENGTH - len(HOOK) - 1)
    assert check_url(url, allow_private=False, resolver=resolving_to(PUBLIC_V4)) == url


def test_a_fragment_is_refused():
    with pytest.raises(RefusedDestination, match="fragment"):
        check_url(HOOK + "#events", allow_private=True)


@pytest.mark.parametrize("url", ["https:///x", "https://:443/x", "https://?x", "https://[]/x",
                                 "https://[not-an-ip]/x", "https://exa$mple.com/x",
                                 "https://a..b/x", "https://-bad-.example/x"])
def test_a_url_without_a_valid_host_is_refused(url):
    with pytest.raises(RefusedDestination):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("port", ["0", "65536", "99999", "http", "-1", "80:81"])
def test_a_port_outside_1_to_65535_is_refused(port):
    with pytest.raises(RefusedDestination, match="port"):
        check_url(f"https://hooks.example.com:{port}/x", allow_private=True)


@pytest.mark.parametrize("port", ["1", "8443", "65535"])
def test_a_port_in_range_is_accepted(port):
    url = f"https://hooks.example.com:{port}/x"
    assert check_url(url, allow_private=True) == url


@pytest.mark.parametrize("url", ["https://hooks.example.com/a b",
                                 "https://hooks.example.com/x\r\nX-Injected: 1",
                                 "https://hooks.example.com/\x00"])
def test_spaces_and_control_characters_inside_the_url_are_refused(url):
    with pytest.raises(RefusedDestination, match="control characters"):
        check_url(url, allow_private=True)


def test_a_refusal_is_a_value_error_with_a_short_reason():
    with pytest.raises(ValueError) as refused:
        check_url("http://hooks.example.com/", allow_private=False, resolver=resolving_to(PUBLIC_V4))
    assert 0 < len(str(refused.value)) < 80


# --- post: a receiver on the loopback interface --------------------------------------------------

class Receiver(ThreadingHTTPServer):
    """Records every request; what it answers depends on the path (see `ReceiverHandler`)."""
    daemon_threads = True
    block_on_close = False  # do not wait for handlers a test left waiting on `release`

    def __init__(self, address=("127.0.0.1", 0)):
        super().__init__(address, ReceiverHandler)
        self.requests: list[dict] = []
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address):
        pass  # clients that gave up hang up on us: expected here


class ReceiverHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append({"path": self.path, "headers": self.headers, "body": body})
        getattr(self, "answer_" + self.path.strip("/").split("?")[0])()

    def answer_ok(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def answer_redirect(self):
        # Following this would be seen: it points back at this server.
        self.send_response(302)
        self.send_header("Location", f"http://127.0.0.1:{self.server.port}/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def answer_slow(self):
        self.server.release.wait(5)
        self.answer_ok()

    def answer_trickle(self):
        # Each byte comes well within any per-read timeout; the whole would take 5 s.
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Padding: " + b"." * 100:
            if self.server.release.wait(0.05):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def answer_big(self):
        # Far more than anyone should read, then nothing: a client reading it all would hang.
        self.send_response(200)
        self.send_header("Content-Length", str(10 * 1024 * 1024))
        self.end_headers()
        self.wfile.write(b"x" * (128 * 1024))
        self.wfile.flush()
        self.server.release.wait(5)


def _serve(server: Receiver):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return thread


@pytest.fixture
def receiver():
    server = Receiver()
    _serve(server)
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def deliver(url, *, body=b'{"event":"booking.confirmed"}', headers=None, timeout=1.5,
            allow_private=True, resolver=None):
    return post(url, body, headers or {}, timeout=timeout, allow_private=allow_private,
                resolver=resolver or resolving_to("127.0.0.1"))


def test_a_200_is_answered_and_the_receiver_gets_the_exact_body_and_headers(receiver):
    body = b'{"event":"booking.confirmed","booking_id":"bk_1"}'
    answer = deliver(f"http://receiver.test:{receiver.port}/ok?v=2", body=body,
                     headers={"X-Itinera-Signature": "t=1,v1=abc", "X-Itinera-Event": "booking"})
    assert answer == Answer(200, None)
    [request] = receiver.requests
    assert request["path"] == "/ok?v=2"
    assert request["body"] == body
    assert request["headers"]["X-Itinera-Signature"] == "t=1,v1=abc"
    assert request["headers"]["X-Itinera-Event"] == "booking"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Content-Length"] == str(len(body))


def test_a_content_type_given_by_the_caller_is_kept(receiver):
    deliver(f"http://receiver.test:{receiver.port}/ok", headers={"content-type": "text/plain"})
    assert receiver.requests[0]["headers"].get_all("Content-Type") == ["text/plain"]


def test_the_checked_address_is_connected_to_and_the_host_header_names_the_url_host(
        receiver, monkeypatch):
    looked_up = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        if host == "receiver.test":
            raise socket.gaierror(socket.EAI_NONAME, "not in real DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    answer = deliver(f"http://receiver.test:{receiver.port}/ok",
                     headers={"Host": "spoofed.example"})
    assert answer == Answer(200, None)
    assert "receiver.test" not in looked_up  # no second lookup: pinned to the checked address
    assert receiver.requests[0]["headers"].get_all("Host") == [f"receiver.test:{receiver.port}"]


def test_a_redirect_is_returned_as_its_status_and_not_followed(receiver):
    answer = deliver(f"http://receiver.test:{receiver.port}/redirect")
    assert answer == Answer(302, None)
    assert [request["path"] for request in receiver.requests] == ["/redirect"]


def test_a_receiver_slower_than_the_timeout_gives_a_timeout_in_time(receiver):
    started = time.monotonic()
    answer = deliver(f"http://receiver.test:{receiver.port}/slow", timeout=0.3)
    assert answer == Answer(None, "timeout")
    assert time.monotonic() - started < 0.8


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout(receiver):
    started = time.monotonic()
    answer = deliver(f"http://receiver.test:{receiver.port}/trickle", timeout=0.4)
    assert answer == Answer(None, "timeout")
    assert time.monotonic() - started < 0.9


def test_only_the_start_of_a_large_response_body_is_read(receiver):
    started = time.monotonic()
    answer = deliver(f"http://receiver.test:{receiver.port}/big", timeout=1.5)
    assert answer == Answer(200, None)
    assert time.monotonic() - started < 0.75  # did not wait for the 10 MiB that never come


def test_a_closed_port_is_a_connection_error():
    with socket.socket() as reserved:  # bound, never listening: connecting is refused
        reserved.bind(("127.0.0.1", 0))
        answer = deliver(f"http://receiver.test:{reserved.getsockname()[1]}/ok")
    assert answer == Answer(None, "connection refused")


def test_outside_the_local_stage_a_loopback_url_is_refused_without_connecting(receiver):
    answer = post(f"https://127.0.0.1:{receiver.port}/ok", b"{}", {}, timeout=1,
                  allow_private=False)
    assert answer == Answer(None, "refused destination: resolves to a non-public address")
    assert receiver.requests == []


def test_the_addresses_are_checked_again_at_delivery(receiver):
    # Registered while it resolved to a public address; now the name points inside.
    answer = deliver(f"https://receiver.test:{receiver.port}/ok", allow_private=False,
                     resolver=resolving_to("127.0.0.1"))
    assert answer == Answer(None, "refused destination: resolves to a non-public address")
    assert receiver.requests == []


def test_http_is_refused_at_delivery_outside_the_local_stage(receiver):
    answer = deliver(f"http://receiver.test:{receiver.port}/ok", allow_private=False,
                     resolver=resolving_to(PUBLIC_V4))
    assert answer == Answer(None, "refused destination: must use https")


def test_a_name_that_stopped_resolving_is_not_delivered_to():
    answer = deliver(HOOK, resolver=not_resolving)
    assert answer == Answer(None, "refused destination: does not resolve")


class IPv6Receiver(Receiver):
    address_family = socket.AF_INET6


def test_an_ipv6_address_is_connected_to():
    try:
        server = IPv6Receiver(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    _serve(server)
    try:
        answer = deliver(f"http://receiver.test:{server.port}/ok", resolver=resolving_to("::1"))
    finally:
        server.shutdown()
        server.server_close()
    assert answer == Answer(200, None)


# --- post over TLS: pinned, and still verified for the URL's hostname ----------------------------

def _self_signed(tmp_path, name: str):
    """A certificate for `name` (also its own CA) and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """Start an HTTPS receiver presenting a certificate for "receiver.test" or "other.test"; the
    client trusts both certificates (so only the name can make one fail)."""
    pytest.importorskip("cryptography")
    certificates = {name: _self_signed(tmp_path, name) for name in ("receiver.test", "other.test")}
    bundle = tmp_path / "trusted.pem"
    bundle.write_bytes(b"".join(cert.read_bytes() for cert, _ in certificates.values()))
    monkeypatch.setattr(destinations, "_ca_bundle", lambda: str(bundle))
    servers = []

    def start(name: str) -> Receiver:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificates[name])
        server = Receiver()
        server.server_names = []
        context.sni_callback = lambda sslobj, sni, ctx: server.server_names.append(sni)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        _serve(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_url_host(tls_receiver):
    server = tls_receiver("receiver.test")
    answer = deliver(f"https://receiver.test:{server.port}/ok")
    assert answer == Answer(200, None)
    assert server.server_names == ["receiver.test"]  # SNI: the URL's host, not the address
    assert server.requests[0]["headers"]["Host"] == f"receiver.test:{server.port}"


def test_a_trusted_certificate_for_another_name_is_a_tls_error(tls_receiver):
    server = tls_receiver("other.test")
    answer = deliver(f"https://receiver.test:{server.port}/ok")
    assert answer.status is None
    assert answer.error.startswith("tls error: ")
    assert "receiver.test" in answer.error  # the name check failed, not the chain
    assert server.requests == []
