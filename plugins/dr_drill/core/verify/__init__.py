"""What verify proves of a backup beyond its own format: it is not far smaller than the live table."""
