"""``feeds add --try``: what the engine makes of a feed before it is written, benign infrastructure included."""

from __future__ import annotations

from embedded_aws.feed_server import FeedServer
from threatfeed.catalogue import FeedEntry
from threatfeed.cli.tryfeed import try_feed

BODY = b"45.9.88.1\n8.8.8.8\n1.1.1.1\n45.9.88.2\n"


def test_trying_a_feed_applies_the_warninglists_the_run_applies_and_names_them() -> None:
    with FeedServer() as server:
        server.set_route("/list.txt", body=BODY, headers={"Content-Type": "text/plain"})
        entry = FeedEntry("tried", "http_list", server.url("/list.txt"), format="txt")
        result = try_feed(entry, secret_lookup=None, allow_http_loopback=True)

    assert result["outcome"] == "ok", result
    assert result["accepted"] == 2
    benign = {reason: n for reason, n in result["reasons"].items() if reason.startswith("warninglist:")}
    assert sum(benign.values()) == 2, result["reasons"]  # 8.8.8.8 and 1.1.1.1: public resolvers, never threats


def test_trying_a_feed_with_no_warninglists_lists_what_the_feed_holds() -> None:
    with FeedServer() as server:
        server.set_route("/list.txt", body=BODY, headers={"Content-Type": "text/plain"})
        entry = FeedEntry("tried", "http_list", server.url("/list.txt"), format="txt")
        result = try_feed(entry, secret_lookup=None, allow_http_loopback=True, warninglists=())

    assert result["accepted"] == 4, result
