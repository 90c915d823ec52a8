"""What the tests of template.yaml and of its deployment share about the stack's contract (one definition, so the
two cannot drift apart while each still passes on its own)."""

from __future__ import annotations

#: The DefinitionSubstitutions the state machine's definition uses: template.yaml must provide exactly these.
DEFINITION_SUBSTITUTIONS = frozenset(
    {
        "PlanFunctionArn",
        "FetchFunctionArn",
        "TransformFunctionArn",
        "PublishFunctionArn",
        "SummarizeFunctionArn",
        "NotificationTopicArn",
        "DataBucketName",
        "FeedConcurrency",
        "RegionConcurrency",
        "ActivationPollSeconds",
        "ActivationPollAttempts",
    }
)
