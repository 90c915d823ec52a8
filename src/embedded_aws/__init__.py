"""The embedded AWS: moto, the GuardDuty list emulator, IAM enforcement and a simulated clock, running the
real state machine and handlers in-process (tests, the demo, ``threatfeed local``); never shipped to Lambda."""
