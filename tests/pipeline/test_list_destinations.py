"""Where indicators go in GuardDuty: IP lists, entity lists (IPs and domains), and the trusted list."""

from __future__ import annotations

import json

from embedded_aws.runtime import EmbeddedAws
from threatfeed.guardduty import parse_s3_location


def _catalogue(server, _secret):
    return {"feeds": [{"name": "main", "type": "http_list", "url": server.url("/main.txt"), "format": "txt"}]}


def _sets(aws: EmbeddedAws, region: str, kind: str) -> list[dict]:
    gd = aws.client("guardduty", region)
    detector = gd.list_detectors()["DetectorIds"][0]
    ids = getattr(gd, f"list_{kind}s")(DetectorId=detector)[f"{''.join(p.title() for p in kind.split('_'))}Ids"]
    return [
        getattr(gd, f"get_{kind}")(DetectorId=detector, **{f"{''.join(p.title() for p in kind.split('_'))}Id": i})
        for i in ids
    ]


def _body(aws: EmbeddedAws, location: str) -> str:
    bucket, key = parse_s3_location(location)
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_ips_can_go_to_the_entity_list_and_the_allow_list_to_the_trusted_list() -> None:
    parameters = {
        "IpListType": "ThreatEntitySet",
        "AllowList": "45.10.0.7,good-corp.io",
        "PublishAllowList": "true",
    }
    with EmbeddedAws(regions=("us-east-1",), parameters=parameters, catalogue=_catalogue, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=b"45.10.0.0/24\n91.240.118.5\nbad-c2.top\ngood-corp.io\n")

        result = aws.run()

        assert result.status == "SUCCEEDED", (result.error, result.cause)
        assert _sets(aws, "us-east-1", "threat_intel_set") == []
        (entity,) = _sets(aws, "us-east-1", "threat_entity_set")
        assert entity["Status"] == "ACTIVE"
        listed = _body(aws, entity["Location"]).split()
        assert "91.240.118.5" in listed and "bad-c2.top" in listed
        assert "good-corp.io" not in listed
        # The allow-listed host is carved out of the listed /24, not the whole /24 dropped.
        assert "45.10.0.0/30" in listed and "45.10.0.8/29" in listed and "45.10.0.7" not in listed
        (trusted,) = _sets(aws, "us-east-1", "trusted_entity_set")
        assert trusted["Status"] == "ACTIVE"
        assert _body(aws, trusted["Location"]).split() == ["45.10.0.7", "good-corp.io"]


def _domains(n: int) -> bytes:
    return "".join(f"phish-{i:04d}.bad-bank.top\n" for i in range(n)).encode()


def _manifest(aws: EmbeddedAws, result) -> dict:
    summary_key = result.output["manifest"].split("/", 3)[3]
    return json.loads(aws.client("s3").get_object(Bucket=aws.stack.bucket, Key=summary_key)["Body"].read())


def test_an_entity_list_keeps_within_guardduty_s_entity_quota() -> None:
    parameters: dict[str, str] = {}
    with EmbeddedAws(regions=("us-east-1",), parameters=parameters, catalogue=_catalogue, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=_domains(1_200))

        result = aws.run()

        assert result.status == "SUCCEEDED", (result.error, result.cause)
        (entity,) = _sets(aws, "us-east-1", "threat_entity_set")
        assert entity["Status"] == "ACTIVE"
        assert len(_body(aws, entity["Location"]).split()) == 1_000
        assert _manifest(aws, result)["engine"]["dropped"] == {"domain_over_entry_limit": 200}
        assert result.output["dropped"] == {"domain_over_entry_limit": 200}
        over = [json.loads(line) for line in aws.log_lines() if '"ListEntriesOverLimit"' in line]
        assert [(r["cause"], r["ListEntriesOverLimit"]) for r in over] == [("domain_over_entry_limit", [200.0])]


def test_a_cap_raised_past_the_quota_puts_the_entity_list_in_error() -> None:
    # why the cap exists: the embedded GuardDuty holds threat entity sets to the quota page's 1,000 entries
    parameters = {"MaxEntitiesPerList": "5000"}
    with EmbeddedAws(regions=("us-east-1",), parameters=parameters, catalogue=_catalogue, retry_sleep=False) as aws:
        aws.feed_server.set_route("/main.txt", body=_domains(1_200))

        result = aws.run()

        assert result.status == "FAILED"
        (entity,) = _sets(aws, "us-east-1", "threat_entity_set")
        assert entity["Status"] == "ERROR"
