"""Deferrable waits, run in the triggerer so that no worker slot is held while DynamoDB works."""
