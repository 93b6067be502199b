"""Amazon CloudWatch metrics: data points kept as statistics, listed and read back.

`api.py` holds the store layout and what other services may call to keep data points (CloudWatch
Logs' metric filters), `metrics.py` the reads (listings, statistics over periods), `provider.py`
the operations.
"""
