"""Value-level rules: IPv4 and CIDR validation, IPv6 recognition, domain normalization."""

from __future__ import annotations

import pytest

from threatfeed.engine import parse_body


def _one(value: str):
    parsed = parse_body((value + "\n").encode(), format="txt")
    return parsed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("300.1.2.3", "invalid_ipv4"),
        ("1.2.3", "invalid_ipv4"),
        ("1.2.3.4.5", "invalid_ipv4"),
        ("010.1.2.3", "leading_zero"),
        ("1.2.3.4/33", "invalid_prefix"),
        ("1.2.3.4/255.0.255.0", "invalid_prefix"),
        ("2001:db8::1", "ipv6_not_supported"),
        ("[2001:db8::1]", "ipv6_not_supported"),
        ("2001:db8::/32", "ipv6_not_supported"),
        ("::ffff:1.2.3.4", "ipv6_not_supported"),
        ("localhost", "single_label_domain"),
        ("printer.local", "reserved_domain"),
        ("www.example.com", "reserved_domain"),
        ("x.onion", "reserved_domain"),
        ("-bad-.evil-site.biz", "invalid_domain"),
        ("under_score.evil-site.biz", "invalid_domain"),
        ("evil-site.123", "invalid_domain"),
        ("a." * 127 + "biz", "domain_too_long"),
        ("x" * 64 + ".biz", "domain_too_long"),
        ("evil.*.biz", "invalid_wildcard"),
        ("*evil-site.biz", "invalid_wildcard"),
        ("!!!", "unrecognized"),
        ("gg::zz::", "unrecognized"),
    ],
)
def test_invalid_values_are_rejected_with_their_reason(value, reason):
    parsed = _one(value)
    assert parsed.stats.reasons == {reason: 1}
    assert parsed.stats.accepted == 0


def test_host_bits_set_give_the_network_and_are_counted():
    parsed = _one("198.51.99.7/24")
    assert parsed.stats.accepted == 1
    assert parsed.stats.reasons == {"host_bits_set": 1}
    assert parsed.stats.rejected == 0
    assert list(parsed.all_ipv4().pairs()) == [(0xC6336300, 0xC63363FF)]


def test_netmask_notation_is_understood():
    parsed = _one("198.51.99.0/255.255.255.0")
    assert list(parsed.all_ipv4().pairs()) == [(0xC6336300, 0xC63363FF)]


@pytest.mark.parametrize(
    ("value", "expected", "note"),
    [
        ("Evil-Site.BIZ", "evil-site.biz", None),
        ("evil-site.biz.", "evil-site.biz", None),
        ("bücher.example-shop.de", "xn--bcher-kva.example-shop.de", "idna"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai", "idna"),
        # IDNA 2008 (UTS #46, non-transitional), as browsers resolve it: IDNA 2003 would list "fass.de"
        ("faß.example-shop.de", "xn--fa-hia.example-shop.de", "idna"),
        # a symbol: not valid IDNA 2008, resolved all the same, encoded alike by both standards
        ("i\u2764.ws", "xn--i-7iq.ws", "idna"),
        ("*.evil-site.biz", "*.evil-site.biz", None),
        ("xn--bcher-kva.example-shop.de", "xn--bcher-kva.example-shop.de", None),
    ],
)
def test_domains_are_normalized(value, expected, note):
    parsed = _one(value)
    assert list(parsed.domains) == [expected]
    assert parsed.stats.reasons == ({note: 1} if note else {})


@pytest.mark.parametrize(
    "value",
    [
        "a\u200db.example-shop.de",  # a joiner out of context: IDNA 2003 would drop it and list "ab..."
        "fa\u00df\u2764.de",  # a symbol (IDNA 2003 fallback) and a sharp s it would map to "ss"
        "\u0661\u0662\u0663.com",  # right-to-left digits before a left-to-right label: the bidi rule
    ],
)
def test_names_the_two_idna_standards_disagree_on_are_rejected(value):
    parsed = _one(value)
    assert parsed.domains == {}
    assert parsed.stats.reasons == {"invalid_domain": 1}
