"""Amazon SQS (see provider.py)."""
