"""CloudWatch's authorization table (gateway/authorize.py), from the Service Authorization
Reference, "Actions, resources, and condition keys for Amazon CloudWatch"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
The metric operations served name no resource type (`*`); alarms, dashboards, insight rules and
metric streams, which do, are not served.
"""

from __future__ import annotations

from cloudlet.gateway.authorize import IamTable

TABLE = IamTable(
    prefix="cloudwatch",
    resources={op: "*" for op in ("PutMetricData", "ListMetrics", "GetMetricStatistics", "GetMetricData")},
)
