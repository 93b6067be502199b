"""Logs Insights: saved query definitions, and the answers about queries that cannot exist.

Query definitions are stored and listed as AWS keeps them:

    (account, region, "logs", "query-definition", queryDefinitionId) -> definition (JSON)

Queries themselves are not run here (StartQuery stays unimplemented, 501), so no query id can
exist: GetQueryResults and StopQuery of any id answer as AWS does for a missing query, and
DescribeQueries lists none.
"""

from __future__ import annotations

import json
import uuid

from cloudlet.services.paging import decode_token, encode_token
from cloudlet.store import Store
from cloudlet.store.keyspace import resource_key, resource_prefix

from .events import now_ms
from .groups import E, InvalidParameterException, ResourceNotFoundException, invalid_token

LimitExceededException = E.LimitExceededException

QUERY_NOT_FOUND = "The specified query does not exist."
MAX_DEFINITIONS = 1000   # AWS's quota of saved queries per account and region


def _not_found(definition_id: str) -> str:
    return f"Query definition with id [{definition_id}] does not exist."


def _key(account: str, region: str, definition_id: str) -> tuple:
    return resource_key(account, region, "logs", "query-definition", definition_id)


def _prefix(account: str, region: str) -> tuple:
    return resource_prefix(account, region, "logs", "query-definition")


def put_query_definition(store: Store, account: str, region: str, params: dict) -> dict:
    """Create (no id given: a new one) or replace (an existing id) a query definition."""
    given = params.get("queryDefinitionId")
    definition_id = given or str(uuid.uuid4())
    record = {"queryDefinitionId": definition_id, "name": params["name"], "queryString": params["queryString"],
              "lastModified": now_ms(), "queryLanguage": params.get("queryLanguage") or "CWLI"}
    if params.get("logGroupNames"):
        record["logGroupNames"] = list(params["logGroupNames"])
    if params.get("parameters"):
        record["parameters"] = list(params["parameters"])
    with store.transaction() as tx:
        key = _key(account, region, definition_id)
        if given:
            if tx.get(key) is None:
                raise ResourceNotFoundException(_not_found(given))
        elif len(tx.range(_prefix(account, region), limit=MAX_DEFINITIONS)) >= MAX_DEFINITIONS:
            raise LimitExceededException(
                f"You have reached the maximum number of query definitions ({MAX_DEFINITIONS}).")
        tx.put_json(key, record)
    return {"queryDefinitionId": definition_id}


def _is_position(position) -> bool:
    return isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)


def describe_query_definitions(store: Store, account: str, region: str, params: dict) -> dict:
    """Definitions ordered by name (then id), filtered by name prefix and query language."""
    prefix = params.get("queryDefinitionNamePrefix")
    language = params.get("queryLanguage")
    limit = params.get("maxResults") or 1000
    after = decode_token(params.get("nextToken"), invalid_token, _is_position)
    records = [json.loads(raw) for _, raw in store.range(_prefix(account, region))]
    records = [r for r in records if (not prefix or r["name"].startswith(prefix))
               and (not language or r.get("queryLanguage", "CWLI") == language)]
    records.sort(key=lambda r: (r["name"], r["queryDefinitionId"]))
    if after is not None:
        mark = tuple(after)
        records = [r for r in records if (r["name"], r["queryDefinitionId"]) > mark]
    page = records[:limit]
    out: dict = {"queryDefinitions": page}
    if len(records) > limit:
        out["nextToken"] = encode_token([page[-1]["name"], page[-1]["queryDefinitionId"]])
    return out


def delete_query_definition(store: Store, account: str, region: str, params: dict) -> dict:
    """`success: true`; an unknown id is ResourceNotFoundException (as moto records AWS's answer)."""
    definition_id = params["queryDefinitionId"]
    with store.transaction() as tx:
        if not tx.delete(_key(account, region, definition_id)):
            raise ResourceNotFoundException(_not_found(definition_id))
    return {"success": True}


# ---- queries: none can exist ----

def get_query_results(params: dict) -> dict:
    raise ResourceNotFoundException(QUERY_NOT_FOUND)


def stop_query(params: dict) -> dict:
    raise ResourceNotFoundException(QUERY_NOT_FOUND)


def describe_queries(params: dict) -> dict:
    if params.get("nextToken"):
        raise InvalidParameterException("The specified nextToken is invalid.")
    return {"queries": []}
