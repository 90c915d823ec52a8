"""Named public lists: a catalogue entry says which list, the preset knows its URL, format and habits.

Catalogue shapes (all equivalent; the preset name defaults to the feed's name)::

    {"name": "spamhaus-drop", "type": "preset"}
    {"name": "drop", "type": "preset", "preset": "spamhaus-drop"}
    {"name": "drop", "type": "preset", "options": {"preset": "spamhaus-drop", "priority": 5}}

:func:`expand` (called by :func:`threatfeed.catalogue.parse_catalogue`) fills in ``url`` and ``format`` from the
preset and moves a top-level ``preset`` into ``options.preset``, so the rest of the pipeline sees an ordinary
entry; giving another ``url`` or ``format`` is an error (use ``type: http_list`` for another URL). The fetch is
the ``http_list`` adapter's: no HTTP code of its own. Other options (``max_bytes``, ``timeout``, the engine's
``priority`` and ``confidence``) work as for any list.

The presets (URLs and habits as their publishers document them; see docs/SOURCES.md):

* ``spamhaus-drop``: Spamhaus DROP, ``1.10.16.0/20 ; SBL256894`` lines and ``;`` comments. Since 2024-04-10 it
  also holds the former EDROP. Spamhaus now recommends ``drop_v4.json``; ``drop.txt`` is still published but
  announced to be retired some day.
* ``spamhaus-drop-json``: the same list as JSON lines (``{"cidr": "1.10.16.0/20", "sblid": ..., "rir": ...}``, and
  a closing ``{"type": "metadata", ...}`` line), the form Spamhaus recommends.
* ``spamhaus-edrop``: **merged into DROP** by Spamhaus on 2024-04-10; ``edrop.txt`` now holds only comments.
  Naming it is a catalogue error that says to use ``spamhaus-drop``.
* ``feodotracker``: abuse.ch Feodo Tracker botnet C2 IP blocklist, one address a line, ``#`` comments;
  ``feodotracker-json``: the same as a JSON list of objects (``ip_address``, ``port``, ``status``, ...).
* ``threatfox-recent``: abuse.ch ThreatFox IOCs of the last 48 hours (JSON keyed by IOC id); its ``ip:port`` and
  ``domain`` IOCs (URLs and hashes left out), with ThreatFox's ``confidence_level``.
* ``urlhaus-recent``: abuse.ch URLhaus malware URLs added in the last 30 days (JSON keyed by id): the hosts of
  the ``online`` URLs that are IPv4 addresses (``kinds: ["ipv4"]``: URL hosts are often shared hosting).
* ``dataplane-sshpwauth``, ``dataplane-sshclient``, ``dataplane-telnetlogin``, ``dataplane-vncrfb``: DataPlane.org
  reports, pipe tables (``ASN  |  ASname  |  ipaddr  |  lastseen  |  category``) behind a long comment header.
* ``tor-exits``: the Tor Project's ``exit-addresses`` (``ExitAddress`` lines, format ``tor``).
* ``dshield-block``: DShield's top 20 attacking /24 networks of the last three days (tab-separated ranges).
* ``cins-army``: CINS Army (Sentinel IPS) list of poorly scored addresses.
* ``et-compromised``: Proofpoint Emerging Threats' compromised hosts list.

A preset may also fill in engine options (the JSON presets' ``records``/``select``); the entry's own
``options`` win over them.

This module stays free of ``requests``: the catalogue (the Plan function) imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from threatfeed.errors import ConfigError
from threatfeed.feeds.context import FetchContext, FetchedFeed
from threatfeed.feeds.registry import FeedEntry


@dataclass(frozen=True)
class Preset:
    """One public list: where it is, how it reads, how often it is worth fetching."""

    name: str
    url: str
    format: str
    schedule: str
    notes: str
    #: A list its publisher retired: naming it is a catalogue error pointing here.
    replaced_by: str | None = None
    retired: str = ""
    #: Engine options the list needs (how its body is read); the catalogue entry's own options win.
    options: Mapping[str, Any] = field(default_factory=dict)


PRESETS: Mapping[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "spamhaus-drop",
            "https://www.spamhaus.org/drop/drop.txt",
            "txt",
            "daily (Spamhaus asks for at most one download an hour; the list changes a few times a day)",
            "Netblocks hijacked or leased by spam and cybercrime operations (CIDRs); includes the former EDROP "
            "since 2024-04-10. Spamhaus recommends drop_v4.json and says drop.txt will be retired with notice.",
        ),
        Preset(
            "spamhaus-drop-json",
            "https://www.spamhaus.org/drop/drop_v4.json",
            "json",
            "daily (Spamhaus asks for at most one download an hour)",
            "Spamhaus DROP as JSON lines, the form Spamhaus recommends: one {cidr, sblid, rir} object a line and a "
            "closing metadata line.",
            options={"select": "cidr"},
        ),
        Preset(
            "spamhaus-edrop",
            "https://www.spamhaus.org/drop/edrop.txt",
            "txt",
            "-",
            "Retired: Spamhaus merged EDROP into DROP; edrop.txt lists nothing.",
            replaced_by="spamhaus-drop",
            retired="Spamhaus merged EDROP into DROP on 2024-04-10 and edrop.txt now lists nothing",
        ),
        Preset(
            "feodotracker",
            "https://feodotracker.abuse.ch/downloads/ipblocklist.txt",
            "txt",
            "daily or more often (regenerated every 5 minutes)",
            "abuse.ch Feodo Tracker: botnet command-and-control servers (Dridex, Emotet, QakBot, ...), one IP a line.",
        ),
        Preset(
            "feodotracker-json",
            "https://feodotracker.abuse.ch/downloads/ipblocklist.json",
            "json",
            "daily or more often (regenerated every 5 minutes)",
            "abuse.ch Feodo Tracker as a JSON list of objects (ip_address, port, status, as_number, malware, ...).",
            options={"select": "ip_address"},
        ),
        Preset(
            "threatfox-recent",
            "https://threatfox.abuse.ch/export/json/recent/",
            "json",
            "daily (the export covers the last 48 hours)",
            "abuse.ch ThreatFox IOCs of the last 48 hours, JSON keyed by IOC id: the ip:port and domain IOCs with "
            "their confidence_level (URL and hash IOCs left out).",
            options={
                "records": "*[] | [?ioc_type=='ip:port' || ioc_type=='domain']",
                "select": "ioc_value",
                "confidence_select": "confidence_level",
            },
        ),
        Preset(
            "urlhaus-recent",
            "https://urlhaus.abuse.ch/downloads/json_recent/",
            "json",
            "daily",
            "abuse.ch URLhaus malware URLs of the last 30 days, JSON keyed by id: the hosts of the online URLs, "
            "IPv4 only (a URL's host name is often a shared host such as a code hosting or file sharing site).",
            options={"records": "*[] | [?url_status=='online']", "select": "url", "kinds": ["ipv4"]},
        ),
        *(
            Preset(
                f"dataplane-{report}",
                f"https://dataplane.org/{report}.txt",
                "csv",
                "daily (DataPlane updates its reports hourly)",
                f"DataPlane.org {report}: {what}. A pipe table (ASN | ASname | ipaddr | lastseen | category) behind "
                "a long comment header; the AS name may itself hold a pipe.",
            )
            for report, what in (
                ("sshpwauth", "addresses seen attempting SSH password authentication"),
                ("sshclient", "addresses seen initiating SSH connections"),
                ("telnetlogin", "addresses seen attempting telnet logins"),
                ("vncrfb", "addresses seen initiating VNC remote frame buffer sessions"),
            )
        ),
        Preset(
            "tor-exits",
            "https://check.torproject.org/exit-addresses",
            "tor",
            "daily (relays come and go within hours)",
            "Tor exit relays. Not malicious in themselves: GuardDuty then reports all traffic with Tor exits, list "
            "it only if that is what you want.",
        ),
        Preset(
            "dshield-block",
            "https://feeds.dshield.org/block.txt",
            "txt",
            "daily",
            "SANS ISC DShield: the 20 /24 networks that attacked most sensors in the last three days "
            "(tab-separated start, end, netblock, attacks, ...).",
        ),
        Preset(
            "cins-army",
            "https://cinsscore.com/list/ci-badguys.txt",
            "txt",
            "daily",
            "CINS Army: addresses with a poor Rogue Packet score or tripping trusted alerts on Sentinel IPS sensors "
            "(about 15,000 IPs).",
        ),
        Preset(
            "et-compromised",
            "https://rules.emergingthreats.net/blockrules/compromised-ips.txt",
            "txt",
            "daily",
            "Proofpoint Emerging Threats: hosts seen compromised and attacking, one IP a line.",
        ),
    )
}


def preset_named(name: Any, feed: str = "") -> Preset:
    """The preset ``name``; :class:`ConfigError` for an unknown or retired one."""
    where = f"feed {feed}: " if feed else ""
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        usable = ", ".join(sorted(n for n, p in PRESETS.items() if not p.replaced_by))
        raise ConfigError(f"{where}preset {name!r} is not one of: {usable}")
    if preset.replaced_by:
        raise ConfigError(f"{where}preset {name!r} is retired: {preset.retired}; use the preset {preset.replaced_by}")
    return preset


def expand(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A ``type: preset`` catalogue entry with ``url``, ``format`` and ``options.preset`` filled in, and the
    problems found (each a sentence; the catalogue prefixes the entry's label)."""
    out = dict(raw)
    problems: list[str] = []
    top = out.pop("preset", None)
    options = out.get("options")
    options = dict(options) if isinstance(options, Mapping) else ({} if options is None else options)
    inner = options.get("preset") if isinstance(options, dict) else None
    if top is not None and inner is not None and top != inner:
        problems.append(f"'preset' is {top!r} but options.preset is {inner!r}; keep one")
    wanted = top if top is not None else inner if inner is not None else out.get("name")
    try:
        preset = preset_named(wanted)
    except ConfigError as error:
        problems.append(str(error))
        return out, problems
    if "url" in out and out["url"] != preset.url:
        problems.append(
            f"a preset takes its URL from the preset ({preset.url}); leave 'url' out, or use type http_list for "
            "another URL"
        )
    if out.get("format", "auto") not in ("auto", preset.format):
        problems.append(f"preset {preset.name} is format {preset.format}; leave 'format' out")
    out["url"] = preset.url
    out["format"] = preset.format
    if isinstance(options, dict):
        options = {**preset.options, **options, "preset": preset.name}
        out["options"] = options
    return out, problems


def fetch(entry: FeedEntry, context: FetchContext) -> FetchedFeed:
    """Download the preset's list with the ``http_list`` adapter (the catalogue already set URL and format)."""
    from threatfeed.feeds import http_list  # lazy: cold start (requests); the Plan function imports this module

    preset_named(entry.options.get("preset", entry.name), entry.name)
    return http_list.fetch(entry, context)
