"""The evidence record, its hash chain, and what a drill tells people (SNS) and dashboards (CloudWatch)."""
