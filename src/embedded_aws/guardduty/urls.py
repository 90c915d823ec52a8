"""URL paths of the GuardDuty lists, in moto's ``urls.py`` style (``{0}`` is the service's URL base)."""

from .findings import FINDINGS_PATH, http_raise_finding
from .responses import GuardDutyListsResponse

url_bases = [
    r"https?://guardduty\.(.+)\.amazonaws\.com",
]

_SET = r"(?P<segment>threatintelset|threatentityset|ipset|trustedentityset)"

url_paths = {
    "{0}/detector/(?P<detector_id>[^/]+)/" + _SET + "$": GuardDutyListsResponse.dispatch,
    "{0}/detector/(?P<detector_id>[^/]+)/" + _SET + "/(?P<set_id>[^/]+)$": GuardDutyListsResponse.dispatch,
    "{0}/tags/(?P<resource_arn>.+)$": GuardDutyListsResponse.dispatch,
    # not an AWS API: `threatfeed local finding` against `threatfeed local serve` (embedded_aws.guardduty.findings)
    "{0}" + FINDINGS_PATH + "$": http_raise_finding,
}
