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
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from cloudlet.call import CallContext

Normalizer = Callable[[str, Mapping[str, str]], "Mapping[str, str] | None"]
"""`(value, variables so far) -> variables to set`, or None when the value is already the plain
form (the common case, which then costs no allocation): the forms a member accepts, made uniform."""

_VARIABLE = re.compile(r"\{(:?)([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTEXT = ("partition", "region", "account")
_SEEN_MAX = 4096  # remembered answers per operation


class Authorization(NamedTuple):
    """What IAM would evaluate: `action` (`lambda:GetFunction`) on `resources` (ARNs, or `*`).
    (A named tuple: made on every request that names a resource, and it is cheap to make.)"""

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
    """One ARN template, compiled once into a format string: rendering is one `format_map`."""

    __slots__ = ("text", "_format", "members", "required", "optional")

    def __init__(self, text: str) -> None:
        self.text = text
        members: list[str] = []
        required: list[str] = []
        optional: list[tuple[str, str]] = []  # (member, the format field holding ":value" or "")

        def field(m: re.Match[str]) -> str:
            name = m.group(2)
            if name in _CONTEXT:
                return "{" + name + "}"
            members.append(name)
            if not m.group(1):
                required.append(name)
                return "{" + name + "}"
            optional.append((name, "_optional_" + name))
            return "{_optional_" + name + "}"

        self._format = _VARIABLE.sub(field, text.replace("{{", "{{{{").replace("}}", "}}}}"))
        self.members = tuple(members)
        self.required = tuple(required)
        self.optional = tuple(optional)

    def render(self, variables: dict[str, str]) -> str | None:
        """The ARN, or None when a required member has no value. Adds the optional members'
        fields to `variables` (the caller's scratch dictionary)."""
        for name in self.required:
            if not variables.get(name):
                return None
        for name, key in self.optional:
            value = variables.get(name)
            variables[key] = ":" + value if value else ""
        return self._format.format_map(variables)


class OperationRule:
    """The compiled entry for one operation: a constant Authorization when no template
    needs the request's parameters (most list and describe calls), else templates."""

    __slots__ = ("action", "templates", "constant", "members", "_seen")

    def __init__(self, table: IamTable, operation: str, inputs: frozenset[str] = frozenset()) -> None:
        self.action = table.action(operation)
        declared = table.resources.get(operation, ())
        texts = (declared,) if isinstance(declared, str) else tuple(declared)
        self.templates = tuple(Template(t) for t in texts if t != "*")
        # The members to read: each template's, and the operation's inputs that have a
        # normaliser (one may stand in for another: logGroupIdentifier gives {logGroupName}).
        names = [name for t in self.templates for name in t.members]
        names += [name for name in table.members if name in inputs]
        self.members = tuple({name: table.members.get(name) for name in names}.items()) if self.templates else ()
        resources = ("*",) if "*" in texts else ()
        self.constant = Authorization(self.action, resources) if not self.templates else None
        # Callers repeat themselves (the same function invoked again and again): answers are
        # remembered by caller scope and member values, so a repeat allocates one small key.
        self._seen: dict[tuple[Any, ...], Authorization] = {}

    def authorize(self, ctx: CallContext, params: Mapping[str, Any]) -> Authorization:
        if self.constant is not None:
            return self.constant
        key: Any = [ctx.account, ctx.region]
        for name, _ in self.members:
            key.append(params.get(name))
        key = tuple(key)
        try:
            found = self._seen.get(key)
        except TypeError:  # a member value that cannot be a key; work it out every time
            return self._render(ctx, params)
        if found is None:
            found = self._render(ctx, params)
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen[key] = found
        return found

    def _render(self, ctx: CallContext, params: Mapping[str, Any]) -> Authorization:
        variables: dict[str, str] = {"partition": ctx.partition, "region": ctx.region, "account": ctx.account}
        for name, normalize in self.members:
            value = params.get(name)
            if value is None or value == "":
                continue
            text = value if type(value) is str else str(value)
            changed = normalize(text, variables) if normalize is not None else None
            if changed is None:
                variables[name] = text
            else:
                variables.update(changed)
        if len(self.templates) == 1:
            arn = self.templates[0].render(variables)
            return Authorization(self.action, (arn,) if arn is not None else ())
        rendered = (template.render(variables) for template in self.templates)
        return Authorization(self.action, tuple(arn for arn in rendered if arn is not None))


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

    def normalize(value: str, variables: Mapping[str, str]) -> Mapping[str, str] | None:
        found = arn_fields(value, resource_prefix)
        if found is None:
            return None
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

    def rule(self, service: str, op: OperationModel) -> OperationRule:
        """The compiled rule of `op` (cached)."""
        rule = self._rules.get(op)
        if rule is None:
            inputs = frozenset(op.input_shape.members) if op.input_shape is not None else frozenset()
            rule = self._rules[op] = OperationRule(self.table(service), op.name, inputs)
        return rule

    def __call__(self, ctx: CallContext, service: str, op: OperationModel, params: Mapping[str, Any]) -> Authorization:
        """The action and resources of `op` called with `params` by `ctx`'s caller."""
        return self.rule(service, op).authorize(ctx, params)


def coverage(service: str, operations: list[str]) -> tuple[int, int]:
    """(operations of `operations` the service's table declares resources for, len(operations))."""
    declared = load_table(service).resources
    return sum(1 for op in operations if op in declared), len(operations)
