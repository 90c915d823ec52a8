# sam build targets (build-<LogicalId>), see template.yaml
