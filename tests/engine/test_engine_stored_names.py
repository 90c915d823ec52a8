"""A row's names are stored as one sorted text and made into strings only where a run needs them; a run keeps one
copy of a name listed again; states of version 1 (names as a JSON list) still load and give the same run."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from engine_helpers import NOW, settings

from threatfeed.engine import FeedBody, build_lists, parse_body
from threatfeed.engine import state as S
from threatfeed.engine.classify import UniformNames
from threatfeed.engine.spans import Spans
from threatfeed.engine.warninglist_use import for_settings, scrub_states
from threatfeed.sightings import STATE_NAME_SEPARATOR, provenance, row_holds_name


def _names(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return [f"{''.join(rnd.choices('abcdefgh', k=rnd.randint(1, 8)))}{i}.evil-{i % 7}.com" for i in range(n)]


def _body(names: list[str]) -> bytes:
    return ("\n".join(names) + "\n").encode()


def _days(bodies: list[bytes], previous=None, **kw):
    """One run a day over ``bodies``; each state through JSON, as the transform keeps it in S3."""
    results = []
    for day, body in enumerate(bodies):
        result = build_lists([FeedBody("f", body)], settings(now=NOW + timedelta(days=day), **kw), previous)
        previous = json.loads(json.dumps(result.state, sort_keys=True))
        results.append(result)
    return results


def _to_version_1(state: dict) -> dict:
    """``state`` as version 1 wrote it: each row's names a sorted JSON list under ``domains``."""
    old = json.loads(json.dumps(state))
    old["version"] = 1
    for feed in old["feeds"].values():
        for row in feed["rows"]:
            row["domains"] = S.row_names(row)
            del row["names"]
    return old


def test_a_rows_names_are_stored_as_one_sorted_text_and_read_back_without_making_strings():
    names = _names(50, 1)
    (result,) = _days([_body(names)])
    (row,) = result.state["feeds"]["f"]["rows"]
    assert row["names"] == " ".join(sorted(names))
    assert "domains" not in row and result.state["version"] == S.STATE_VERSION == 2
    (loaded,) = S.load(json.loads(json.dumps(result.state)))["f"].rows
    assert isinstance(loaded.domains, S.StoredNames)
    assert len(loaded.domains) == 50 and not loaded.domains.is_materialized  # counted from the text
    assert loaded.domains == frozenset(names) and loaded.domains.is_materialized


def test_a_name_holding_the_separator_is_refused_when_the_state_is_written():
    row = S.Row(1, 1, 50, domains=frozenset({"a.example.com", "b example.com"}))
    with pytest.raises(ValueError, match="separates names"):
        row.names_text()


@pytest.mark.parametrize("block_chars", [1, 7, 64, 1 << 20])
def test_stored_names_come_back_in_blocks_each_once_in_order(monkeypatch, block_chars):
    monkeypatch.setattr(S, "NAME_BLOCK_CHARS", block_chars)
    names = sorted(_names(300, 2))
    stored = S.StoredNames(" ".join(names))
    blocks = list(stored.blocks())
    assert [n for b in blocks for n in b] == names
    assert len(blocks) >= (2 if block_chars < 100 else 1)
    assert not stored.is_materialized and list(S.StoredNames("").blocks()) == [] and len(S.StoredNames("")) == 0


@pytest.mark.parametrize("replace", [True, False])
def test_runs_over_stored_names_in_small_blocks_equal_runs_in_one_block(monkeypatch, replace):
    days = [_names(400, 3)]
    rnd = random.Random(4)
    for seed in (5, 6, 7):  # each day some names delisted, some listed anew
        kept = [n for n in days[-1] if rnd.random() > 0.1]
        days.append(kept + _names(40, seed))
    bodies = [_body(d) for d in days]
    whole = _days(bodies, replace_delivered=replace)
    monkeypatch.setattr(S, "NAME_BLOCK_CHARS", 16)
    blocked = _days(bodies, replace_delivered=replace)
    assert [r.state for r in blocked] == [r.state for r in whole]
    assert [[lst.sha256 for lst in r.lists] for r in blocked] == [[lst.sha256 for lst in r.lists] for r in whole]
    # and the first-seen of a name listed all along is the first day's
    first_day = int(NOW.timestamp())
    always = set(days[0]).intersection(*days[1:])
    rows = whole[-1].state["feeds"]["f"]["rows"]
    assert always <= {n for r in rows if r["first"] == first_day for n in S.row_names(r)}


def test_a_version_1_state_gives_the_same_next_run_as_version_2():
    names = _names(200, 8)
    (first,) = _days([_body(names)])
    later = settings(now=NOW + timedelta(days=1))
    body = _body(names[20:] + _names(10, 9))
    from_v2 = build_lists([FeedBody("f", body)], later, json.loads(json.dumps(first.state)))
    from_v1 = build_lists([FeedBody("f", body)], later, _to_version_1(first.state))
    assert from_v1.state == from_v2.state
    assert [lst.sha256 for lst in from_v1.lists] == [lst.sha256 for lst in from_v2.lists]


def test_advance_takes_the_names_listed_again_out_of_a_uniform_parse():
    # the parse's copy of a name the state holds is let go as it is found: a million names are never held twice
    names = _names(100, 10)
    (first,) = _days([_body(names)])
    (old,) = S.load(first.state).values()
    parsed = parse_body(_body([*names[:60], "new-one.com", "new-two.net"]), feed="f", settings=settings())
    assert isinstance(parsed.domains, UniformNames)
    own = parsed.domains.names
    seen = int((NOW + timedelta(days=1)).timestamp())
    after = S.advance(old, parsed, seen, cutoff=0, priority=0, replace=True)
    assert own == {"new-one.com", "new-two.net"}
    rows = {(r.first, r.last): r.name_set() for r in after.rows}
    assert rows == {(int(NOW.timestamp()), seen): frozenset(names[:60]), (seen, seen): own}


def test_the_findings_loop_finds_a_name_in_a_stored_text_only_as_a_whole_name():
    assert STATE_NAME_SEPARATOR == S.NAME_SEPARATOR
    row = {"names": "a.evil.com evil.co evil.com.x x.org"}
    assert row_holds_name(row, ["evil.co"]) and row_holds_name(row, ["x.org"]) and row_holds_name(row, ["a.evil.com"])
    assert not row_holds_name(row, ["evil.com"]) and not row_holds_name(row, ["vil.co"]) and not row_holds_name(row, [])
    assert row_holds_name({"domains": ["evil.com"]}, ["evil.com"]) and not row_holds_name({"names": ""}, ["x.org"])


def test_a_stored_row_is_brought_under_new_lists_a_block_at_a_time_and_stays_sorted_text(monkeypatch):
    monkeypatch.setattr(S, "NAME_BLOCK_CHARS", 16)
    names = [*_names(60, 11), "sso.partner-corp.net", "partner-corp.net"]
    (first,) = _days([_body(names)])
    (fs,) = S.load(first.state).values()
    warn = for_settings(settings(warninglist_files={"partners": b"partner-corp.net\n"}))
    (row,) = scrub_states({"f": fs}, warn)["f"].rows
    _, expected = warn.scrub(Spans(), frozenset(names))
    assert isinstance(row.domains, S.StoredNames) and not row.domains.is_materialized
    assert row.domains.sorted() == sorted(expected) and len(expected) == 60
    (untouched,) = scrub_states({"f": fs}, for_settings(settings(warninglists=("default",))))["f"].rows
    assert untouched.domains is fs.rows[0].domains  # nothing matched: the stored text as it was


def test_a_finding_on_a_listed_name_gets_its_provenance_from_a_version_2_state():
    names = _names(30, 12)
    _, second = _days([_body(names), _body([*names[:10], "fresh-c2.net"])])
    t0, t1 = int(NOW.timestamp()), int((NOW + timedelta(days=1)).timestamp())
    assert provenance(second.state, names[3], "domain") == {"f": {"first_seen": t0, "last_seen": t1}}
    assert provenance(second.state, "fresh-c2.net", "domain") == {"f": {"first_seen": t1, "last_seen": t1}}
    assert provenance(second.state, "api.fresh-c2.net", "domain") == {}  # no wildcard listed
    assert provenance(second.state, "c2.net", "domain") == {}
