"""Amazon DynamoDB: ListTables only. Tables and items are not stored yet, so the list is empty."""

from __future__ import annotations

from cloudlet.services.provider import Provider
from cloudlet.store.keyspace import resource_prefix


def tables_prefix(ctx) -> tuple:
    return resource_prefix(ctx.account, ctx.region, "dynamodb", "table")


class DynamoDBProvider(Provider):
    service = "dynamodb"

    def list_tables(self, ctx, params):
        limit = params.get("Limit") or 100
        start_name = params.get("ExclusiveStartTableName")
        after = tables_prefix(ctx) + (start_name,) if start_name else None
        rows = self.store.range(tables_prefix(ctx), after=after, limit=limit + 1)
        names = [key[-1] for key, _ in rows[:limit]]
        out: dict = {"TableNames": names}
        if len(rows) > limit:
            out["LastEvaluatedTableName"] = names[-1]
        return out
