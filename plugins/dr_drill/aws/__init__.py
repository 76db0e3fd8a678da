"""boto3 adapters. Clients are passed in, never created here."""
