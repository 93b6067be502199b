"""The authorize step: the IAM action a request performs and the resources it acts on.

Each service declares a small table, `TABLE` in `cloudlet/services/<svc>/iam.py` (an `IamTable`):
its IAM prefix, the operations whose action name is not the operation's own (`Invoke` is
`lambda:InvokeFunction`, S3's `HeadBucket` is `s3:ListBucket`), and per operation the ARN
templates of the resources it acts on, filled from the request's parameters:

    "GetFunction": "arn:{partition}:lambda:{region}:{account}:function:{FunctionName}{:Qualifier}"

`{partition}`, `{region}` and `{account}` come from the caller's context; `{Member}` is the
parameter of that name (without it the resource is left out); `{:Member}` is `:value` when the
parameter is given and nothing otherwise; `"*"` declares that the action names no particular
resource (lambda:ListFunctions). AWS accepts several forms for many identifiers (a name, a
partial or a full ARN): a table's `members` map a member to a normaliser that turns its value
into template variables (it may override `account` and `region`, or the member itself).

Nothing is enforced yet: the step records an `Authorization` on `ctx.authorization`, the one
place IAM policy evaluation will read. An operation missing from the table records its action
and no resources. `coverage()` feeds docs/coverage.md.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.model import OperationModel  # type: ignore[import-untyped]

    from cloudlet.call import CallContext

Normalizer = Callable[[str, Mapping[str, str]], Mapping[str, str]]
"""`(value, variables so far) -> variables to set`: the forms a member accepts, made uniform."""

_VARIABLE = re.compile(r"\{(:?)([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTEXT = ("partition", "region", "account")


@dataclass(frozen=True, slots=True)
class Authorization:
    """What IAM would evaluate: `action` (`lambda:GetFunction`) on `resources` (ARNs, or `*`)."""

    action: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class IamTable:
    """A service's authorization table (see the module docstring)."""

    prefix: str
    resources: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    actions: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, Normalizer] = field(default_factory=dict)

    def action(self, operation: str) -> str:
        return f"{self.prefix}:{self.actions.get(operation, operation)}"


class Template:
    """One ARN template, parsed once."""

    __slots__ = ("text", "_parts", "members", "required")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[tuple[str, str]] = []  # ("", literal) | ("=", variable) | (":", optional member)
        pos = 0
        for m in _VARIABLE.finditer(text):
            if m.start() > pos:
                parts.append(("", text[pos:m.start()]))
            parts.append((":" if m.group(1) else "=", m.group(2)))
            pos = m.end()
        if pos < len(text):
            parts.append(("", text[pos:]))
        self._parts = tuple(parts)
        self.members = tuple(name for kind, name in parts if kind and name not in _CONTEXT)
        self.required = tuple(name for kind, name in parts if kind == "=" and name not in _CONTEXT)

    def render(self, variables: Mapping[str, str]) -> str | None:
        """The ARN, or None when a required member has no value."""
        out = []
        for kind, text in self._parts:
            if not kind:
                out.append(text)
                continue
            value = variables.get(text)
            if kind == ":":
                if value:
                    out.append(":" + value)
            elif not value:
                return None
            else:
                out.append(value)
        return "".join(out)


class OperationRule:
    """The compiled entry for one operation: a constant Authorization when no template
    needs the request's parameters (most list and describe calls), else templates."""

    __slots__ = ("action", "templates", "constant", "members")

    def __init__(self, table: IamTable, operation: str) -> None:
        self.action = table.action(operation)
        declared = table.resources.get(operation, ())
        texts = (declared,) if isinstance(declared, str) else tuple(declared)
        self.templates = tuple(Template(t) for t in texts if t != "*")
        # The members to read: each template's, and every member with a normaliser (one may
        # stand in for another: logs' logGroupIdentifier gives the {logGroupName} of a template).
        names = [name for t in self.templates for name in t.members] + list(table.members)
        self.members = {name: table.members.get(name) for name in names} if self.templates else {}
        resources = ("*",) if "*" in texts else ()
        self.constant = Authorization(self.action, resources) if not self.templates else None

    def authorize(self, ctx: CallContext, params: Mapping[str, Any]) -> Authorization:
        if self.constant is not None:
            return self.constant
        variables: dict[str, str] = {"partition": ctx.partition, "region": ctx.region, "account": ctx.account}
        for name, normalize in self.members.items():
            value = params.get(name)
            if value is None or value == "":
                continue
            text = value if isinstance(value, str) else str(value)
            if normalize is None:
                variables[name] = text
            else:
                variables.update(normalize(text, variables))
        resources = []
        for template in self.templates:
            arn = template.render(variables)
            if arn is not None:
                resources.append(arn)
        return Authorization(self.action, tuple(resources))


def arn_fields(value: str, resource_prefix: str) -> dict[str, str] | None:
    """`arn:<partition>:<svc>:<region>:<account>:<resource_prefix><rest>` -> its partition,
    region, account and `rest`; None when `value` is not such an ARN."""
    if not value.startswith("arn:"):
        return None
    parts = value.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith(resource_prefix):
        return None
    return {"partition": parts[1], "region": parts[3], "account": parts[4], "rest": parts[5][len(resource_prefix):]}


def name_or_arn(member: str, resource_prefix: str) -> Normalizer:
    """A normaliser for a member that takes a name or the ARN of the resource (`table/` for a
    DynamoDB table): an ARN contributes its own partition, region and account."""

    def normalize(value: str, variables: Mapping[str, str]) -> Mapping[str, str]:
        found = arn_fields(value, resource_prefix)
        if found is None:
            return {member: value}
        rest = found.pop("rest")
        return {**found, member: rest}

    return normalize


def load_table(service: str) -> IamTable:
    """`TABLE` of the service's `iam` module; a bare table (its signing name as prefix) if none."""
    from cloudlet.services import PROVIDERS

    target = PROVIDERS.get(service)
    if target is not None:
        package = target.partition(":")[0].rpartition(".")[0]
        try:
            module = importlib.import_module(package + ".iam")
        except ModuleNotFoundError as exc:
            if exc.name != package + ".iam":
                raise
        else:
            table = module.TABLE
            if not isinstance(table, IamTable):
                raise TypeError(f"{package}.iam.TABLE is not an IamTable")
            return table
    from cloudlet.protocol import load_service

    return IamTable(prefix=load_service(service).signing_name)


class Authorizer:
    """The pipeline's authorize step (and the tables' cache)."""

    def __init__(self) -> None:
        self._tables: dict[str, IamTable] = {}
        self._rules: dict[OperationModel, OperationRule] = {}

    def table(self, service: str) -> IamTable:
        table = self._tables.get(service)
        if table is None:
            table = self._tables[service] = load_table(service)
        return table

    def __call__(self, ctx: CallContext, service: str, op: OperationModel, params: Mapping[str, Any]) -> Authorization:
        """The action and resources of `op` called with `params` by `ctx`'s caller."""
        rule = self._rules.get(op)
        if rule is None:
            rule = self._rules[op] = OperationRule(self.table(service), op.name)
        return rule.authorize(ctx, params)


def coverage(service: str, operations: list[str]) -> tuple[int, int]:
    """(operations of `operations` the service's table declares resources for, len(operations))."""
    declared = load_table(service).resources
    return sum(1 for op in operations if op in declared), len(operations)
