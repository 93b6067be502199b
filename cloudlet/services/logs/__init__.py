"""Amazon CloudWatch Logs: log groups, log streams, events, filter patterns.

`groups.py` holds state keys, ARNs and log group/stream records, `events.py` event storage
and reads (and `append_events`, the API other services use to write logs), `filter_pattern.py`
the filter pattern language, `provider.py` the operations.
"""
