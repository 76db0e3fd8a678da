"""dr-drill: scheduled disaster-recovery drills for DynamoDB tables."""

__version__ = "0.1.0"
