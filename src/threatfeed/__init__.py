"""threatfeed: keeps Amazon GuardDuty's custom threat lists fed from third-party threat intelligence."""

__version__ = "0.1.0"
