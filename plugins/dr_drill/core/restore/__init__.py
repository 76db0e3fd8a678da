"""The scratch table a restore writes to, and how a restore splits into parts and adds up."""
