"""One module per stage of the state machine; the Lambda handlers only call into these."""
