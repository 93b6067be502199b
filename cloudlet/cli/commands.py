"""The `cloudlet` command's click commands (main.py runs them; fast.py runs a plain `cloudlet start`
without them)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from cloudlet import __version__
from cloudlet.cli.fast import START_OPTIONS, settings_of
from cloudlet.config import LOG_LEVELS


def _endpoint(endpoint: str | None) -> str:
    if endpoint:
        return endpoint.rstrip("/")
    env = os.environ.get("CLOUDLET_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if env:
        return env.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('CLOUDLET_PORT', '4566')}"


@click.group()
@click.version_option(__version__, prog_name="cloudlet")
def cli() -> None:
    """cloudlet: a serverless cloud you run yourself."""


# How click reads each kind of `cloudlet start` flag (fast.py parses their plain uses without click).
_START_KINDS: dict[str, dict] = {
    "text": {}, "variable": {}, "int": {"type": int}, "path": {"type": click.Path(path_type=Path)},
    "flag": {"is_flag": True, "default": None},
    "level": {"type": click.Choice(LOG_LEVELS, case_sensitive=False)},
}


def _start_options(command):
    for option in reversed(START_OPTIONS):
        command = click.option(option.flag, help=option.help, **_START_KINDS[option.kind])(command)
    return command


@cli.command()
@_start_options
def start(**values) -> None:
    """Start the platform in the foreground (Ctrl-C stops it cleanly). Every setting is a flag or a
    CLOUDLET_* variable; a flag wins."""
    from cloudlet.server import serve

    try:
        settings = settings_of(values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(serve(settings))


@cli.command()
@click.option("--force", is_flag=True, help="Install again even if it is there.")
def setup(force) -> None:
    """Install what functions get from AWS's runtimes that the Python package cannot carry: the
    AWS SDK for JavaScript v3 of the Node runtimes (pinned in cloudlet/compute/runtimes/node-sdk/,
    `npm ci` into ~/.cache/cloudlet/node-sdk/). `cloudlet start` does it in the background when it
    is missing; this waits for it and says what happened."""
    from cloudlet.compute import nodesdk

    try:
        done = nodesdk.install(force=force)
    except nodesdk.NodeSdkError as exc:
        click.echo(f"could not install the AWS SDK for JavaScript v3: {exc}", err=True)
        sys.exit(1)
    assert done is not None  # (it waits for another process's install)
    what = "installed" if done.fresh else "already installed"
    click.echo(f"AWS SDK for JavaScript v3 for Node functions {what} in {done.path}: {done.packages} packages, "
               f"{done.files} files, {done.size_bytes / 1e6:.1f} MB" + (f", {done.seconds:.1f} s" if done.fresh else ""))


@cli.command()
@click.option("--endpoint", help="Platform URL [CLOUDLET_ENDPOINT, AWS_ENDPOINT_URL, default http://127.0.0.1:4566].")
@click.option("--json", "as_json", is_flag=True, help="Print the raw health document.")
def status(endpoint, as_json) -> None:
    """Show whether the platform is up and the state of each service."""
    import urllib.error
    import urllib.request

    url = _endpoint(endpoint) + "/_cloudlet/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            health = json.load(resp)
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"cloudlet is not reachable at {url}: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(health, indent=2))
        return
    click.echo(f"cloudlet {health['version']} at {_endpoint(endpoint)} (state: {health['store']})")
    for name, info in sorted(health["services"].items()):
        click.echo(f"  {name:<16} {info['state']}")


def _not_running(exc: Exception, endpoint: str | None) -> str:
    """What to say about a failed call: for no answer at all, whether cloudlet runs."""
    from botocore.exceptions import EndpointConnectionError

    if isinstance(exc, EndpointConnectionError):
        return (f"nothing answers at {_endpoint(endpoint)}: is cloudlet running? "
                "Start it with `cloudlet start` (or say where it is with --endpoint).")
    return str(exc)


def _client(service: str, endpoint: str | None, region: str | None):
    """A botocore client for the running platform (test credentials unless the environment has some)."""
    import botocore.session

    session = botocore.session.get_session()
    creds = session.get_credentials()
    return session.create_client(
        service, endpoint_url=_endpoint(endpoint),
        region_name=region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        aws_access_key_id=None if creds else "test", aws_secret_access_key=None if creds else "test")


@cli.command()
@click.argument("function")
@click.argument("payload", required=False, default="{}")
@click.option("--qualifier", help="Version or alias.")
@click.option("--event", "asynchronous", is_flag=True, help="Invoke asynchronously (InvocationType=Event).")
@click.option("--endpoint", help="Platform URL [CLOUDLET_ENDPOINT, AWS_ENDPOINT_URL].")
@click.option("--region")
def invoke(function, payload, qualifier, asynchronous, endpoint, region) -> None:
    """Invoke FUNCTION with a JSON PAYLOAD ('-' reads stdin); print its logs and result."""
    import base64

    from botocore.exceptions import BotoCoreError, ClientError

    if payload == "-":
        payload = sys.stdin.read()
    kwargs = {"FunctionName": function, "Payload": payload.encode(),
              "InvocationType": "Event" if asynchronous else "RequestResponse"}
    if not asynchronous:
        kwargs["LogType"] = "Tail"
    if qualifier:
        kwargs["Qualifier"] = qualifier
    try:
        resp = _client("lambda", endpoint, region).invoke(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        click.echo(_not_running(exc, endpoint), err=True)
        sys.exit(1)
    if asynchronous:
        click.echo(f"queued (HTTP {resp['StatusCode']})")
        return
    if resp.get("LogResult"):
        click.echo(base64.b64decode(resp["LogResult"]).decode("utf-8", "replace"), err=True, nl=False)
    click.echo(resp["Payload"].read().decode("utf-8", "replace"))
    if resp.get("FunctionError"):
        sys.exit(1)


@cli.command()
@click.argument("function")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events.")
@click.option("--since", default=600, show_default=True, help="Start this many seconds ago.")
@click.option("--endpoint", help="Platform URL [CLOUDLET_ENDPOINT, AWS_ENDPOINT_URL].")
@click.option("--region")
def logs(function, follow, since, endpoint, region) -> None:
    """Print FUNCTION's CloudWatch Logs (group /aws/lambda/FUNCTION)."""
    import time

    from botocore.exceptions import BotoCoreError, ClientError

    client = _client("logs", endpoint, region)
    group = function if function.startswith("/") else f"/aws/lambda/{function}"
    start = int((time.time() - since) * 1000)
    seen: set[str] = set()
    try:
        while True:
            kwargs = {"logGroupName": group, "startTime": start}
            while True:
                page = client.filter_log_events(**kwargs)
                for event in page["events"]:
                    if event["eventId"] not in seen:
                        seen.add(event["eventId"])
                        click.echo(f"{event['logStreamName']} {event['message'].rstrip()}")
                        start = max(start, event["timestamp"])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            if not follow:
                if not seen:
                    click.echo(f"no log events in {group} in the last {since} seconds (--since sets the window; "
                               "a function's events come when it is invoked)", err=True)
                return
            time.sleep(1)
    except ClientError as exc:
        message = exc.response["Error"].get("Message", str(exc))
        if exc.response["Error"].get("Code") == "ResourceNotFoundException":
            message += f" ({group}: it is made when the function first runs)"
        click.echo(message, err=True)
        sys.exit(1)
    except (BotoCoreError, KeyboardInterrupt) as exc:
        if isinstance(exc, BotoCoreError):
            click.echo(_not_running(exc, endpoint), err=True)
            sys.exit(1)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def aws(args) -> None:
    """Run the AWS CLI against the running cloudlet: `cloudlet aws s3 ls`, as `aws` with the
    endpoint (CLOUDLET_ENDPOINT, default http://127.0.0.1:4566), test credentials and a region
    set unless the environment has them. Uses the `aws` on PATH, else the one installed with
    Python (`pip install awscli`)."""
    import shutil

    env = dict(os.environ)
    env.setdefault("AWS_ACCESS_KEY_ID", "test")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    if not (env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    env.setdefault("AWS_PAGER", "")
    # StartLiveTail's model prefixes the host with `stream-`: a local endpoint has no such host.
    env.setdefault("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    endpoint = _endpoint(None)
    env["AWS_ENDPOINT_URL"] = endpoint
    argv = list(args)
    if "--endpoint-url" not in argv and argv and argv[0] not in ("help", "--version", "configure"):
        argv = ["--endpoint-url", endpoint, *argv]  # (some AWS CLI releases ignore AWS_ENDPOINT_URL)
    binary = shutil.which("aws")
    if binary is not None:
        os.execve(binary, [binary, *argv], env)
    import importlib.util

    if importlib.util.find_spec("awscli") is None:
        click.echo("no AWS CLI here: install AWS CLI v2 (https://docs.aws.amazon.com/cli/) or "
                   "`pip install awscli`", err=True)
        sys.exit(127)
    os.execve(sys.executable, [sys.executable, "-m", "awscli", *argv], env)


@cli.command()
@click.option("--write", "write_to", is_flag=True,
              help="Write docs/coverage.md (and the index of botocore's models it lists) instead of printing.")
def coverage(write_to) -> None:
    """Print (or write) the operation coverage table generated from the providers. After a
    botocore bump, `--write` regenerates the models index first (protocol/models_index.py)."""
    from cloudlet.protocol import models_index

    if write_to:
        models_index.INDEX_FILE.write_text(models_index.render(models_index.build()))
        models_index.load.cache_clear()
        click.echo(f"wrote {models_index.INDEX_FILE}")
    from cloudlet.coverage import render

    text = render()
    if write_to:
        path = Path(__file__).resolve().parents[2] / "docs" / "coverage.md"
        path.write_text(text)
        click.echo(f"wrote {path}")
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":  # pragma: no cover
    cli()
