"""Issue 17: fetches go to public addresses only (``threatfeed.netpolicy`` and the session of ``threatfeed.http``).

No test here touches a network other than loopback. The :class:`Wire` fixture patches the one resolver,
``threatfeed.netpolicy.resolve``, so that a public-looking name "resolves" to the address under test, and the
socket opener ``threatfeed.http._open_socket``: every connection attempt is recorded, attempts to the test's
own loopback servers go through, and any other attempt is diverted to a counting loopback listener (the
"sinkhole"), so that an address that should have been refused is *counted* instead of reached. The URLs of the
targets use the sinkhole's port too: a connection that bypassed the opener to a loopback target lands there.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import threatfeed.http as tf_http
from embedded_aws.feed_server import FeedServer
from threatfeed import netpolicy
from threatfeed.catalogue import parse_catalogue, url_problem
from threatfeed.errors import ConfigError, FeedRejected
from threatfeed.http import download, new_session
from threatfeed.netpolicy import AddressRefused, Refusal, checked_addresses, classify, host_problem

ip = ipaddress.ip_address
PUBLIC = ip("8.8.4.4")  # what public-looking names resolve to; never reached: the opener diverts it
TIMEOUT = (2.0, 5.0)


# ------------------------------------------------------------------------------------------------ fixtures
class Sinkhole:
    """A loopback listener that accepts, counts and hangs up: where every unexpected connection lands."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.accepts = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepts += 1
            conn.close()

    def close(self) -> None:
        self._sock.close()


@dataclass
class Wire:
    """The patched resolver and socket opener (see the module docstring)."""

    sinkhole: Sinkhole
    #: name -> addresses, or a function of the call number (0, 1, …) for answers that change (rebinding)
    names: dict[str, list[str] | Callable[[int], list[str]]] = field(default_factory=dict)
    #: (address, port) the opener connects to as asked: the tests' own servers
    allowed: set[tuple[str, int]] = field(default_factory=set)
    #: (address, port) -> loopback (host, port) it is diverted to (a "public" address played by a test server)
    routes: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    #: addresses whose connection is refused (a public server that is down)
    down: set[str] = field(default_factory=set)
    lookups: list[str] = field(default_factory=list)
    attempts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def leaks(self) -> list[tuple[str, int]]:
        """Attempts to anything but the tests' own servers."""
        known = self.allowed | set(self.routes)
        return [a for a in self.attempts if a not in known and a[0] not in self.down]

    def allow(self, port: int, host: str = "127.0.0.1") -> None:
        self.allowed.add((host, port))

    def route(self, address: Any, port: int, to: tuple[str, int]) -> None:
        self.routes[(str(address), port)] = to


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    sinkhole = Sinkhole()
    state = Wire(sinkhole)
    real_open = tf_http._open_socket

    def resolve(host: str, port: int) -> list[netpolicy.IPAddress]:
        state.lookups.append(host)
        answer = state.names.get(host)
        if answer is None:
            if host != "localhost":
                raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test's DNS")
            return [ip("127.0.0.1")]
        if callable(answer):
            answer = answer(state.lookups.count(host) - 1)
        return [ip(a) for a in answer]

    def open_socket(address: netpolicy.IPAddress, port: int, *args: Any) -> socket.socket:
        key = (str(address), port)
        state.attempts.append(key)
        if key[0] in state.down:
            raise ConnectionRefusedError(111, "Connection refused (test)")
        if key in state.allowed:
            return real_open(address, port, *args)
        host, to_port = state.routes.get(key, ("127.0.0.1", sinkhole.port))
        return real_open(ip(host), to_port, *args)

    monkeypatch.setattr(netpolicy, "resolve", resolve)
    monkeypatch.setattr(tf_http, "_open_socket", open_socket)
    yield state
    sinkhole.close()


# ------------------------------------------------------------------------------------------ a TLS server
@dataclass
class Pki:
    """A throwaway CA; :meth:`server` starts a loopback HTTPS server with a certificate it issues."""

    directory: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def ca_file(self) -> str:
        return str(self.directory / "ca.pem")

    def issue(self, names: list[str], addresses: tuple[str, ...] = ()) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(ip(a)) for a in addresses]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (names or list(addresses))[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = self.directory / f"leaf-{cert.serial_number}"
        stem.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        stem.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stem.with_suffix(".pem"), stem.with_suffix(".key"))
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "threatfeed test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Pki(directory, key, cert)


class TlsServer:
    """HTTPS on 127.0.0.1: ``routes[path] = (status, headers, body)``; logs the SNI name and Host header seen."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.sni: list[str | None] = []
        self.hosts: list[str | None] = []
        context.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment]
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.hosts.append(self.headers.get("Host"))
                status, headers, body = app.routes.get(self.path, (404, {}, b"no"))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def tls_session(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[requests.Session]:
    """A threatfeed session that trusts the test CA (and only it)."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests lets these override session.verify
        monkeypatch.delenv(name, raising=False)
    session = new_session(retries=2, backoff_factor=0, backoff_jitter=0, retry_after_max=0)
    session.verify = pki.ca_file
    yield session
    session.close()


@pytest.fixture
def origin(pki: Pki, wire: Wire) -> Iterator[TlsServer]:
    """``https://origin.feeds.example`` (and ``rebind.feeds.example``): resolves to a public address, which the
    wire diverts to this loopback HTTPS server. The strict policy (no loopback) can fetch from it."""
    server = TlsServer(pki.issue(["origin.feeds.example", "rebind.feeds.example"]))
    wire.names["origin.feeds.example"] = [str(PUBLIC)]
    wire.route(PUBLIC, 443, ("127.0.0.1", server.port))
    wire.route(PUBLIC, wire.sinkhole.port, ("127.0.0.1", server.port))
    yield server
    server.close()


# ------------------------------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """A place a fetch must not go: ``netloc`` as written in a URL ({port}: the sinkhole's), the address a name
    resolving there gets (``None`` for spellings that are not addresses), the class the message must name."""

    id: str
    netloc: str
    address: str | None
    why: str
    loopback: bool = False  # allowed where loopback feeds are (the embedded AWS)

    def url(self, port: int) -> str:
        return f"https://{self.netloc.format(port=port)}/list.txt"

    def port(self, sinkhole_port: int) -> int:
        return 9001 if ":9001" in self.netloc else sinkhole_port


METADATA = r"a link-local address \(cloud metadata\)"
PRIVATE = r"a private address \(RFC 1918\)"
NON_CANONICAL = r"a non-canonical spelling of 127\.0\.0\.1, a loopback address"
TARGETS = [
    Target("metadata", "169.254.169.254:{port}", "169.254.169.254", METADATA),
    Target("metadata-v6", "[fd00:ec2::254]:{port}", "fd00:ec2::254", r"unique local address .*EC2 instance metadata"),
    Target("ula", "[fd12:3456:789a::1]:{port}", "fd12:3456:789a::1", r"a unique local address \(IPv6 private"),
    Target("link-local", "169.254.10.20:{port}", "169.254.10.20", "a link-local address"),
    Target("link-local-v6", "[fe80::1]:{port}", "fe80::1", "a link-local address"),
    Target("private-10", "10.0.0.5:{port}", "10.0.0.5", PRIVATE),
    Target("private-172", "172.16.3.4:{port}", "172.16.3.4", PRIVATE),
    Target("private-192", "192.168.1.1:{port}", "192.168.1.1", PRIVATE),
    Target("shared-cgnat", "100.64.0.1:{port}", "100.64.0.1", r"shared address space .*RFC 6598"),
    Target("loopback", "127.0.0.1:{port}", "127.0.0.1", "a loopback address", loopback=True),
    Target("loopback-net", "127.8.9.10:{port}", "127.8.9.10", "a loopback address", loopback=True),
    Target("loopback-v6", "[::1]:{port}", "::1", "a loopback address", loopback=True),
    Target("localhost", "localhost:{port}", None, "a loopback address", loopback=True),
    Target("runtime-api", "127.0.0.1:9001", "127.0.0.1", r"port 9001 is the Lambda Runtime API's"),
    Target("short-form", "127.1:{port}", None, NON_CANONICAL),
    Target("decimal", "2130706433:{port}", None, NON_CANONICAL),
    Target("hex", "0x7f000001:{port}", None, NON_CANONICAL),
    Target("octal", "0177.0.0.1:{port}", None, NON_CANONICAL),
    Target("multicast", "224.0.0.251:{port}", "224.0.0.251", "a multicast address"),
    Target("multicast-v6", "[ff02::1]:{port}", "ff02::1", "a multicast address"),
    Target("unspecified", "0.0.0.0:{port}", "0.0.0.0", "unspecified"),
    Target("unspecified-v6", "[::]:{port}", "::", "unspecified"),
    Target("reserved", "240.1.2.3:{port}", "240.1.2.3", "a reserved address"),
    Target("broadcast", "255.255.255.255:{port}", "255.255.255.255", "the broadcast address"),
    Target("benchmarking", "198.18.0.1:{port}", "198.18.0.1", r"a benchmarking address \(RFC 2544\)"),
    Target("benchmarking-v6", "[2001:2::1]:{port}", "2001:2::1", r"a benchmarking address \(RFC 5180\)"),
    Target("documentation", "203.0.113.7:{port}", "203.0.113.7", "a documentation address"),
    Target("documentation-v6", "[2001:db8::1]:{port}", "2001:db8::1", "a documentation address"),
    Target(
        "ipv4-mapped",
        "[::ffff:169.254.169.254]:{port}",
        "::ffff:169.254.169.254",
        "an IPv4-mapped IPv6 address of 169.254.169.254, " + METADATA,
    ),
    Target(
        "ipv4-mapped-loopback",
        "[::ffff:127.0.0.1]:{port}",
        "::ffff:127.0.0.1",
        "an IPv4-mapped IPv6 address of 127.0.0.1, a loopback address",
        loopback=True,
    ),
    Target(
        "ipv4-compatible",
        "[::10.0.0.5]:{port}",
        "::10.0.0.5",
        "IPv4-compatible IPv6 address .* of 10.0.0.5, " + PRIVATE,
    ),
    Target(
        "nat64",
        "[64:ff9b::a9fe:a9fe]:{port}",
        "64:ff9b::a9fe:a9fe",
        r"NAT64 address .* of 169\.254\.169\.254, " + METADATA,
    ),
    Target("6to4", "[2002:a00:5::1]:{port}", "2002:a00:5::1", r"6to4 address .* of 10\.0\.0\.5, " + PRIVATE),
    Target("teredo", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:{port}", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
]
RESOLVED = [t for t in TARGETS if t.address is not None]
NOT_LOOPBACK = [t for t in TARGETS if not t.loopback]
ids = lambda targets: [t.id for t in targets]  # noqa: E731


def policies(targets: list[Target]) -> list[Any]:
    """Each target under the strict policy, and under the embedded AWS's unless it is loopback (allowed there)."""
    cases = [pytest.param(t, False, id=f"{t.id}-strict") for t in targets]
    return cases + [pytest.param(t, True, id=f"{t.id}-loopback-allowed") for t in targets if not t.loopback]


def assert_untouched(wire: Wire) -> None:
    assert wire.leaks == [], "a refused address was connected to"
    assert wire.sinkhole.accepts == 0


# -------------------------------------------------------------------------------------- the catalogue URL
@pytest.mark.parametrize(("target", "allow"), policies(TARGETS))
def test_a_catalogue_url_to_a_non_public_address_is_refused_before_connecting(wire, session, target, allow) -> None:
    url = target.url(wire.sinkhole.port)

    with pytest.raises(ConfigError, match=f"feed probe: .*{target.why}") as caught:
        download(session, url, allow_http_loopback=allow, feed="probe", timeout=TIMEOUT)

    assert "only" in str(caught.value)  # says what is allowed
    assert_untouched(wire)
    assert wire.attempts == [] and wire.lookups == []  # refused as written: not even looked up


@pytest.mark.parametrize(("target", "allow"), policies(RESOLVED))
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(wire, session, target, allow) -> None:
    assert target.address is not None
    wire.names["feeds.partner.example"] = [target.address]
    url = f"https://feeds.partner.example:{target.port(wire.sinkhole.port)}/list.txt"

    with pytest.raises(
        FeedRejected, match=f"feed probe: https://feeds.partner.example:\\d+/list.txt resolves to .*{target.why}"
    ):
        download(session, url, allow_http_loopback=allow, feed="probe", timeout=TIMEOUT)

    assert_untouched(wire)
    assert wire.attempts == [] and wire.lookups == ["feeds.partner.example"]  # one lookup: not retried


def test_one_non_public_record_among_public_ones_refuses_the_name(wire, session) -> None:
    wire.names["feeds.partner.example"] = [str(PUBLIC), "10.1.2.3"]

    with pytest.raises(FeedRejected, match=f"resolves to 10.1.2.3, {PRIVATE}"):
        download(session, "https://feeds.partner.example/list.txt", feed="probe", timeout=TIMEOUT)
    assert_untouched(wire)
    assert wire.attempts == []


def test_the_catalogue_refuses_non_public_hosts_naming_the_entry() -> None:
    feeds = [
        {"name": "meta", "type": "http_list", "url": "https://169.254.169.254/latest/meta-data/"},
        {"name": "obfuscated", "type": "http_list", "url": "https://0x7f000001/list.txt"},
        {"name": "runtime", "type": "http_list", "url": "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"},
        {"name": "fine", "type": "http_list", "url": "https://feeds.partner.example/list.txt"},
    ]
    with pytest.raises(ConfigError) as caught:
        parse_catalogue(json.dumps({"feeds": feeds}))  # loopback allowed (the Plan default): still refused

    message = str(caught.value)
    assert re.search(f"feed #1 'meta': the host 169.254.169.254 is {METADATA}", message)
    assert re.search(f"feed #2 'obfuscated': the host 0x7f000001 is {NON_CANONICAL}", message)
    assert "feed #3 'runtime': the host 127.0.0.1 is a loopback address, and port 9001 is the Lambda Runtime" in message
    assert "'fine'" not in message


# --------------------------------------------------------------------------------------------- redirects
@pytest.mark.parametrize("target", TARGETS, ids=ids(TARGETS))
def test_a_redirect_to_a_non_public_address_is_refused(wire, tls_session, origin, target) -> None:
    """The production policy (no loopback at all): the origin is a public-looking HTTPS host."""
    origin.routes["/hop"] = (302, {"Location": target.url(wire.sinkhole.port)}, b"")
    origin.routes["/list.txt"] = (200, {}, b"45.9.148.114\n")

    with pytest.raises(
        FeedRejected, match=f"feed probe: https://origin.feeds.example/hop redirected to .*{target.why}"
    ):
        download(tls_session, "https://origin.feeds.example/hop", feed="probe", timeout=TIMEOUT)

    assert origin.hosts == ["origin.feeds.example"]  # the origin was asked once, the target never
    assert_untouched(wire)


@pytest.mark.parametrize("target", RESOLVED, ids=ids(RESOLVED))
def test_a_redirect_to_a_name_resolving_to_a_non_public_address_is_refused(wire, tls_session, origin, target) -> None:
    assert target.address is not None
    wire.names["cdn.partner.example"] = [target.address]
    location = f"https://cdn.partner.example:{target.port(wire.sinkhole.port)}/list.txt"
    origin.routes["/hop"] = (302, {"Location": location}, b"")

    with pytest.raises(
        FeedRejected,
        match=f"feed probe: https://origin.feeds.example/hop redirected to {re.escape(location)}, which resolves to "
        f".*{target.why}",
    ):
        download(tls_session, "https://origin.feeds.example/hop", feed="probe", timeout=TIMEOUT)

    assert_untouched(wire)


@pytest.mark.parametrize("target", NOT_LOOPBACK, ids=ids(NOT_LOOPBACK))
def test_the_embedded_aws_loopback_exception_opens_nothing_else(wire, session, target) -> None:
    """``allow_http_loopback=True`` (the embedded AWS), a redirect from a loopback feed server."""
    with FeedServer() as server:
        wire.allow(server.port)
        server.set_route("/hop", status=302, headers={"Location": target.url(wire.sinkhole.port)})

        with pytest.raises(FeedRejected, match=f"feed probe: {server.url('/hop')} redirected to .*{target.why}"):
            download(session, server.url("/hop"), allow_http_loopback=True, feed="probe", timeout=TIMEOUT)

        assert [r.path for r in server.requests] == ["/hop"]
    assert_untouched(wire)


# ------------------------------------------------------------------------------------------------ loopback
def test_loopback_names_pass_only_where_loopback_feeds_are_allowed(wire, session) -> None:
    with FeedServer() as server:
        wire.allow(server.port)
        wire.names["feeds.local.example"] = ["127.0.0.1"]
        server.set_route("/list.txt", body=b"45.9.148.114\n")
        url = f"http://localhost:{server.port}/list.txt"
        by_name = f"https://feeds.local.example:{server.port}/list.txt"

        assert download(session, url, allow_http_loopback=True, feed="probe")[2] == b"45.9.148.114\n"
        with pytest.raises(ConfigError, match=r"localhost is a loopback address; .*THREATFEED_ALLOW_HTTP_LOOPBACK"):
            download(session, url, allow_http_loopback=False, feed="probe")
        with pytest.raises(FeedRejected, match=r"resolves to 127\.0\.0\.1, a loopback address; .*embedded AWS"):
            download(session, by_name, allow_http_loopback=False, feed="probe")
        assert len(server.requests) == 1


def test_a_connection_opened_for_the_embedded_aws_is_not_reused_under_the_strict_policy(wire, session) -> None:
    """Pools are kept per policy: keep-alive does not carry a loopback connection past the check."""
    with FeedServer() as server:
        wire.allow(server.port)
        server.set_route("/list.txt", body=b"45.9.148.114\n")
        assert download(session, server.url("/list.txt"), allow_http_loopback=True, feed="probe")[0] == 200

        with pytest.raises(AddressRefused, match="loopback"):
            session.get(server.url("/list.txt"), timeout=TIMEOUT)  # outside download(): the strict policy
        assert len(server.requests) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/", "http://0x7f000001:{port}/", "https://169.254.169.254/"])
def test_the_session_itself_refuses_outside_download(wire, session, url) -> None:
    """Defence in depth: the adapter checks whatever uses the session, URL rules or not."""
    with pytest.raises(AddressRefused):
        session.get(url.format(port=wire.sinkhole.port), timeout=TIMEOUT)
    assert_untouched(wire)


# ----------------------------------------------------------------------------------------- DNS rebinding
def test_dns_rebinding_cannot_reach_loopback(wire, session) -> None:
    """Public on the first lookup (whose connection fails, so urllib3 retries), loopback on the next: the
    retry's connection is checked again, and refused; loopback is never connected to."""
    wire.names["rebind.partner.example"] = lambda call: [str(PUBLIC)] if call == 0 else ["127.0.0.1"]
    wire.down.add(str(PUBLIC))
    url = f"https://rebind.partner.example:{wire.sinkhole.port}/list.txt"

    with pytest.raises(FeedRejected, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        download(session, url, allow_http_loopback=False, feed="probe", timeout=TIMEOUT)

    assert wire.lookups == ["rebind.partner.example"] * 2
    assert wire.attempts == [(str(PUBLIC), wire.sinkhole.port)]
    assert_untouched(wire)


def test_the_connection_goes_to_the_address_that_was_checked(wire, tls_session, origin) -> None:
    """One lookup per connection: a resolver that would answer loopback the second time is never asked again.
    The URL's port is the sinkhole's, so a connection to 127.0.0.1 (a second lookup) would be counted."""
    wire.names["rebind.feeds.example"] = lambda call: [str(PUBLIC)] if call == 0 else ["127.0.0.1"]
    origin.routes["/list.txt"] = (200, {}, b"45.9.148.114\n")
    url = f"https://rebind.feeds.example:{wire.sinkhole.port}/list.txt"

    status, _, body = download(tls_session, url, feed="probe", timeout=TIMEOUT)

    assert (status, body) == (200, b"45.9.148.114\n")
    assert wire.lookups == ["rebind.feeds.example"]
    assert wire.attempts == [(str(PUBLIC), wire.sinkhole.port)]
    assert_untouched(wire)


# ------------------------------------------------------------------------------------------------------- TLS
def test_tls_uses_the_host_name_for_sni_verification_and_host(wire, tls_session, origin) -> None:
    origin.routes["/list.txt"] = (200, {}, b"45.9.148.114\n")

    assert download(tls_session, "https://origin.feeds.example/list.txt", feed="probe")[0] == 200

    assert origin.sni == ["origin.feeds.example"]
    assert origin.hosts == ["origin.feeds.example"]
    assert wire.attempts == [(str(PUBLIC), 443)]  # connected to the checked address, spoke TLS to the name


@pytest.mark.parametrize(
    ("names", "addresses"),
    [(["other.feeds.example"], ()), (["other.feeds.example"], (str(PUBLIC),))],
    ids=["another-name", "valid-for-the-address-only"],
)
def test_a_certificate_not_for_the_host_name_is_refused(wire, pki, tls_session, names, addresses) -> None:
    """Even a certificate valid for the very address connected to: verification is against the name."""
    server = TlsServer(pki.issue(names, addresses))
    try:
        server.routes["/list.txt"] = (200, {}, b"45.9.148.114\n")
        wire.names["origin.feeds.example"] = [str(PUBLIC)]
        wire.route(PUBLIC, 443, ("127.0.0.1", server.port))

        with pytest.raises(
            FeedRejected, match=re.escape("feed probe: TLS with https://origin.feeds.example/list.txt failed")
        ):
            download(tls_session, "https://origin.feeds.example/list.txt", feed="probe", timeout=TIMEOUT)
        assert server.hosts == []  # no request was sent over it
    finally:
        server.close()


# ------------------------------------------------------------------------------------------ proxies
def test_a_proxy_is_refused_not_trusted_to_check(wire, session, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{wire.sinkhole.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    wire.names["feeds.partner.example"] = [str(PUBLIC)]

    with pytest.raises(ConfigError, match=r"feed probe: a proxy is set for .*NO_PROXY"):
        download(session, "https://feeds.partner.example/list.txt", feed="probe", timeout=TIMEOUT)
    assert_untouched(wire)


# ------------------------------------------------------------------------------- the classification itself
@pytest.mark.parametrize("target", RESOLVED, ids=ids(RESOLVED))
def test_classify_names_every_class(target) -> None:
    assert target.address is not None
    if target.id == "runtime-api":
        assert netpolicy.address_problem(ip(target.address), 9001, allow_loopback=True) is not None
        return
    why = classify(ip(target.address))
    assert why is not None and re.fullmatch(f".*{target.why}.*", why)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.4.4",
        "1.1.1.1",
        "52.94.76.10",  # an AWS public address
        "2606:4700:4700::1111",
        "2a05:d018::1",
        "::ffff:8.8.4.4",  # IPv4-mapped form of a public address: the kernel connects to 8.8.4.4
        "64:ff9b::808:404",  # NAT64 of a public address (an IPv6-only VPC with DNS64)
    ],
)
def test_public_addresses_pass(wire, address) -> None:
    assert classify(ip(address)) is None
    wire.names["feeds.partner.example"] = [address]
    assert checked_addresses("feeds.partner.example", 443, allow_loopback=False) == [ip(address)]
    assert (
        url_problem(f"https://{'[' + address + ']' if ':' in address else address}/x", allow_http_loopback=False)
        is None
    )


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", METADATA),
        ("169.254.170.2", METADATA),
        ("fd00:ec2::254", "EC2 instance metadata"),
        ("fe80::1%eth0", "a link-local address"),
        ("fec0::1", "site-local"),
        ("192.0.0.8", "IETF protocol assignment"),
        ("192.88.99.1", "6to4 relay anycast"),
        ("100::1", "discard-only"),
        ("64:ff9b:1::a00:5", "local-use NAT64"),
        ("3fff::1", "a documentation address"),
        ("2002:808:404::1", r"6to4 address \(deprecated, RFC 7526\) of 8\.8\.4\.4$"),  # refused even when public
        ("::8.8.4.4", "IPv4-compatible"),
    ],
)
def test_classify_more_special_addresses(address, why) -> None:
    found = classify(ip(address))
    assert found is not None and re.search(why, found)


@pytest.mark.parametrize(
    ("host", "meant"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", "127.0.0.1"),  # full-width digits and dots
        ("0xa9fea9fe", "169.254.169.254"),
        ("134743044", "8.8.4.4"),  # public, and still refused: an address has one spelling
    ],
)
def test_numeric_spellings_are_refused_outright_saying_what_they_mean(host, meant) -> None:
    for allow in (False, True):
        refusal = host_problem(host, 443, allow_loopback=allow)
        assert isinstance(refusal, Refusal) and refusal.address == meant
        assert refusal.why.startswith(f"a non-canonical spelling of {meant}, ")
        assert not refusal.loopback  # the embedded AWS's exception does not cover them either


@pytest.mark.parametrize("host", ["example.123", "1.2.3.256", "256.1.2.3", "08.1.2.3", "1.2.3.4.5"])
def test_hosts_that_end_in_a_number_but_are_no_address_are_refused(host) -> None:
    refusal = host_problem(host, 443, allow_loopback=True)
    assert refusal is not None and refusal.address is None


@pytest.mark.parametrize("host", ["feeds.partner.example", "8.8.4.4", "2606:4700:4700::1111", "xn--bcher-kva.example"])
def test_canonical_public_hosts_and_names_are_left_to_the_resolver(host) -> None:
    assert host_problem(host, 443, allow_loopback=False) is None


def test_the_runtime_api_port_is_refused_even_with_loopback_allowed() -> None:
    assert host_problem("127.0.0.1", 9001, allow_loopback=True) is not None
    assert host_problem("localhost", 9001, allow_loopback=True) is not None
    assert host_problem("127.0.0.1", 9002, allow_loopback=True) is None
    assert host_problem("::1", 8080, allow_loopback=True) is None
    assert host_problem("10.0.0.1", 8080, allow_loopback=True) is not None


def test_netpolicy_is_a_leaf() -> None:
    source = Path(netpolicy.__file__).read_text()
    assert not re.search(r"^\s*(from|import) (threatfeed|requests|urllib3)", source, re.M)
