"""Amazon CloudWatch Logs: log groups, log streams, events, filter patterns.

`groups.py` holds state keys, ARNs and log group/stream records, `events.py` event storage
and reads, `ingest.py` the one way events are appended (and the hooks that watch them arrive),
`api.py` what other services may call to write logs, `filter_pattern.py` the filter pattern
language, `provider.py` the operations.
"""
