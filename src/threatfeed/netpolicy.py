"""Where a feed fetch may connect: public addresses only (issue 17, server-side request forgery).

A feed URL, and every redirect it answers with, is third-party input. In a VPC-attached function a hostile or
hijacked feed could otherwise send the fetch to the instance metadata service (169.254.169.254,
fd00:ec2::254), to private services (10/8, 172.16/12, 192.168/16, fc00::/7), or to the Lambda Runtime API on
127.0.0.1:9001. So every host is reduced to IP addresses and each one must be *public*:

* :func:`classify` names the class of a non-public address. It does not trust ``ipaddress.is_global`` alone:
  that property differs between Python versions (3.11 calls 224.0.0.1, ff02::1, 2002::/16 and 64:ff9b::/96
  global) and knows nothing of addresses that *embed* an IPv4 one. The explicit table below comes first,
  ``is_global`` is the catch-all after it.
* IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped (``::ffff:a.b.c.d``, the
  kernel connects to ``a.b.c.d``) and NAT64 (``64:ff9b::/96``, which an IPv6-only VPC with DNS64 really uses)
  pass when it is public. The deprecated ones, IPv4-compatible (``::a.b.c.d``), 6to4 (``2002::/16``) and
  Teredo (``2001::/32``), are refused whatever they embed: no feed is served that way, and the message still
  names what they embed.
* Numeric host spellings other than the canonical ones (``127.1``, ``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, full-width digits) are **refused outright**, with what they would mean in the message
  (":func:`host_problem`"). They are refused rather than resolved because parsers disagree about them
  (``inet_aton``, glibc and musl ``getaddrinfo``, the WHATWG URL parser, ``ipaddress``): the classic SSRF
  trick is a spelling one layer reads as a name and another as an address. Refusing them means no decision
  depends on which parser is asked, and nothing legitimate is lost: a host name's last label is never all
  numeric, and an address has one canonical spelling (``a.b.c.d``).
* :func:`resolve` is the one place a host name becomes addresses. ``threatfeed.http`` connects to the very
  addresses checked here, so nothing is looked up twice (DNS rebinding gets no second answer to swap in).
  Tests patch this function to make a public-looking name resolve to the address under test.

The one exception is the embedded AWS, whose feed servers listen on loopback: with ``allow_loopback``
(``THREATFEED_ALLOW_HTTP_LOOPBACK=true``, set only there) 127.0.0.0/8 and ::1 pass, except port 9001, the
Lambda Runtime API's, which a feed has no business reaching. Nothing else non-public ever passes.

This module is a leaf (standard library only): ``threatfeed.catalogue`` (no ``requests`` there) and
``threatfeed.http`` both import it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The port of the Lambda Runtime API (``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001``), refused even where loopback
#: feeds are allowed: answering it would let a feed read or complete the function's invocations.
RUNTIME_API_PORT = 9001
#: Said after every refusal.
ONLY_PUBLIC = "threatfeed only fetches from public addresses"

_PRIVATE = "a private address (RFC 1918)"
_DOCUMENTATION = "a documentation address"
_LOOPBACK = "a loopback address"
_METADATA = "a link-local address (cloud metadata)"
_ULA = "a unique local address (IPv6 private, fc00::/7)"
_RUNTIME_API = f"{_LOOPBACK}, and port {RUNTIME_API_PORT} is the Lambda Runtime API's"

#: Checked in order (more specific networks first); the first match names the class.
_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why)
    for net, why in (
        # IPv4
        ("0.0.0.0/8", "an unspecified ('this network') address"),
        ("10.0.0.0/8", _PRIVATE),
        ("172.16.0.0/12", _PRIVATE),
        ("192.168.0.0/16", _PRIVATE),
        ("127.0.0.0/8", _LOOPBACK),
        ("169.254.169.254/32", _METADATA),  # EC2/Lambda instance metadata
        ("169.254.170.2/32", _METADATA),  # ECS task metadata
        ("169.254.0.0/16", "a link-local address"),
        ("100.64.0.0/10", "a shared address space address (RFC 6598, carrier-grade NAT)"),
        ("192.0.0.0/24", "an IETF protocol assignment address (RFC 6890)"),
        ("192.0.2.0/24", _DOCUMENTATION),
        ("198.51.100.0/24", _DOCUMENTATION),
        ("203.0.113.0/24", _DOCUMENTATION),
        ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
        ("192.88.99.0/24", "a 6to4 relay anycast address (deprecated, RFC 7526)"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
        # IPv6
        ("::/128", "the unspecified address"),
        ("::1/128", _LOOPBACK),
        ("fd00:ec2::254/128", "a unique local address (IPv6 private: EC2 instance metadata)"),
        ("fc00::/7", _ULA),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (deprecated)"),
        ("ff00::/8", "a multicast address"),
        ("2001:db8::/32", _DOCUMENTATION),
        ("3fff::/20", _DOCUMENTATION),
        ("2001:2::/48", "a benchmarking address (RFC 5180)"),
        ("100::/64", "a discard-only address (RFC 6666)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (RFC 8215)"),
        ("2001:10::/28", "an ORCHID address (RFC 4843)"),
        ("2001:20::/28", "an ORCHIDv2 address (RFC 7343)"),
        ("5f00::/16", "an SRv6 SID address (RFC 9602)"),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def classify(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is ("a loopback address", …), or ``None`` when public.

    The classes are phrased for messages ("…resolves to 10.0.0.5, a private address (RFC 1918)").
    """
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # drop a scope id ("fe80::1%eth0"): it changes nothing here
        carries_ipv4, why = _embedded_ipv4(address)
        if carries_ipv4:
            return why
    for network, why in _NETWORKS:
        if address in network:
            return why
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
        return "a special-purpose address (not globally routable)"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[bool, str | None]:
    """``(True, class or None)`` for an IPv6 form that carries an IPv4 address, ``(False, None)`` otherwise.

    IPv4-mapped and NAT64 forms are as public as the IPv4 address they carry (the packets go there); the
    deprecated forms are refused whatever they carry.
    """
    mapped = address.ipv4_mapped
    if mapped is not None:
        why = classify(mapped)
        return True, (f"an IPv4-mapped IPv6 address of {mapped}, {why}" if why else None)
    if address in _NAT64:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        why = classify(inner)
        return True, (f"a NAT64 address (64:ff9b::/96) of {inner}, {why}" if why else None)
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        return True, f"an IPv4-compatible IPv6 address (deprecated) of {inner}{_also(inner)}"
    if address.sixtofour is not None:
        inner = address.sixtofour
        return True, f"a 6to4 address (deprecated, RFC 7526) of {inner}{_also(inner)}"
    if address.teredo is not None:
        _server, client = address.teredo
        return True, f"a Teredo tunnel address (for client {client}{_also(client)})"
    return False, None


def _also(inner: ipaddress.IPv4Address) -> str:
    why = classify(inner)
    return f", {why}" if why else ""


def is_loopback(address: IPAddress) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped form of 127.0.0.0/8 (the kernel connects to the IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` as written is loopback: ``localhost``/``*.localhost`` or a canonical loopback literal."""
    parsed = parse_host(host)
    if parsed is None:
        return _is_localhost(host)
    return not isinstance(parsed, Refusal) and is_loopback(parsed)


def address_problem(address: IPAddress, port: int, *, allow_loopback: bool) -> str | None:
    """Why ``address``:``port`` may not be connected to (its class), or ``None`` when it may.

    Loopback passes only with ``allow_loopback`` (the embedded AWS), and never on the Runtime API port.
    """
    if is_loopback(address) and port == RUNTIME_API_PORT:
        return _RUNTIME_API
    why = classify(address)
    if why is None or (allow_loopback and is_loopback(address)):
        return None
    return why


# ---------------------------------------------------------------------------------------- host spellings
@dataclass(frozen=True)
class Refusal:
    """Why a host (as written in a URL) may not be fetched from: what it is or resolves to, and its class."""

    host: str
    #: The address it names or resolves to; ``None`` for a spelling that is no valid address at all.
    address: str | None
    #: The class ("a loopback address", "a non-canonical spelling of 127.0.0.1, a loopback address", …).
    why: str
    #: The host was a name that was resolved (so the message says "resolves to").
    resolved: bool = False
    #: It would pass with ``allow_loopback`` (so a message can name the switch).
    loopback: bool = False

    @property
    def verdict(self) -> str:
        """What the host is, to follow its name or URL: "resolves to 10.0.0.5, a private address (RFC 1918)"."""
        return f"resolves to {self.address}, {self.why}" if self.resolved else f"is {self.why}"

    @property
    def advice(self) -> str:
        """What to say after the verdict."""
        if self.loopback:
            return (
                "loopback feeds are only allowed on the embedded AWS (THREATFEED_ALLOW_HTTP_LOOPBACK=true); "
                "use https:// to a public host"
            )
        return ONLY_PUBLIC

    def __str__(self) -> str:
        return f"{self.host if self.resolved else 'the host ' + self.host} {self.verdict}"


class AddressRefused(Exception):
    """A connection was refused by this policy before it was opened.

    Deliberately not an ``OSError``: urllib3 would take that for a connection failure and retry it.
    """

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")
#: Dots that IDNA (UTS #46) maps to "." and NFKC does not.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _ends_in_number(host: str) -> bool:
    """WHATWG URL "ends in a number": then the host is read as an IPv4 address, never as a name."""
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    return bool(last) and ((last.isascii() and last.isdigit()) or bool(_HEX_NUMBER.fullmatch(last)))


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` read the ``inet_aton`` way (1-4 parts; hex ``0x``, octal ``0``, decimal), or ``None``."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if _HEX_NUMBER.fullmatch(part):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10) if part.isascii() and part.isdigit() else -1)
        except ValueError:
            return None
    *head, last = numbers
    if any(not 0 <= n <= 255 for n in head) or not 0 <= last < 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_host(host: str) -> IPAddress | Refusal | None:
    """``host`` (as ``urlsplit().hostname`` gives it) as an IP address, ``None`` for a name to resolve, or a
    :class:`Refusal` for a numeric spelling other than the canonical one (see the module docstring)."""
    normal = unicodedata.normalize("NFKC", host).translate(_DOTS).lower()
    if ":" in normal:
        try:
            return ipaddress.IPv6Address(normal)
        except ValueError:
            return Refusal(host, None, "not a valid IPv6 address")
    if not _ends_in_number(normal):
        return None
    if normal == host:
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            pass
    meant = _legacy_ipv4(normal[:-1] if normal.endswith(".") and len(normal) > 1 else normal)
    if meant is None:
        return Refusal(host, None, "neither a host name nor a valid IPv4 address")
    why = classify(meant) or "a public address"
    return Refusal(host, str(meant), f"a non-canonical spelling of {meant}, {why} (write addresses as a.b.c.d)")


def _is_localhost(name: str) -> bool:
    """``localhost`` and ``*.localhost`` (RFC 6761: always loopback, never looked up in DNS)."""
    name = name.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def host_problem(host: str, port: int, *, allow_loopback: bool) -> Refusal | None:
    """What can be said about ``host`` without DNS: a :class:`Refusal` for a non-canonical numeric spelling,
    a non-public IP literal or ``localhost`` (unless allowed), else ``None`` (names are checked when resolved)."""
    parsed = parse_host(host)
    if isinstance(parsed, Refusal):
        return parsed
    if parsed is None:
        if not _is_localhost(host):
            return None
        if port == RUNTIME_API_PORT:
            return Refusal(host, None, _RUNTIME_API)
        return None if allow_loopback else Refusal(host, None, _LOOPBACK, loopback=True)
    why = address_problem(parsed, port, allow_loopback=allow_loopback)
    if why is None:
        return None
    loopback = is_loopback(parsed) and port != RUNTIME_API_PORT
    return Refusal(host, str(parsed), why, loopback=loopback)


# -------------------------------------------------------------------------------------------- resolving
def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order, without duplicates.

    The only DNS lookup of a fetch (tests patch it). Raises ``socket.gaierror`` when the name does not resolve.
    """
    family = socket.AF_UNSPEC if socket.has_ipv6 else socket.AF_INET
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


def checked_addresses(host: str, port: int, *, allow_loopback: bool) -> list[IPAddress]:
    """The addresses to connect to for ``host``:``port``, each one checked; the caller connects to exactly these.

    An IP literal is used as is (no lookup). A name is resolved once (:func:`resolve`) and refused if *any* of
    its addresses is non-public: a public name with one private record is not a feed, it is a probe.
    Raises :class:`AddressRefused` (before any connection) or ``socket.gaierror``.
    """
    refusal = host_problem(host, port, allow_loopback=allow_loopback)
    if refusal is not None:
        raise AddressRefused(refusal)
    parsed = parse_host(host)
    if isinstance(parsed, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return [parsed]
    addresses = resolve(host, port)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} resolves to no address")
    for address in addresses:
        why = address_problem(address, port, allow_loopback=allow_loopback)
        if why is not None:
            loopback = is_loopback(address) and port != RUNTIME_API_PORT
            raise AddressRefused(Refusal(host, str(address), why, resolved=True, loopback=loopback))
    return addresses
