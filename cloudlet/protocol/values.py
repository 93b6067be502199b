"""Scalar conversions shared by every protocol: timestamps, blobs, booleans, floats."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime

from .errors import SerializationException


def parse_timestamp(value: object) -> datetime:
    """Read a timestamp in any wire form AWS uses: epoch seconds, ISO 8601 or RFC 822."""
    try:
        return _parse_timestamp(value)
    except (OverflowError, OSError) as exc:  # fromtimestamp() beyond time_t or the year range
        raise ValueError(f"timestamp out of range: {value!r}") from exc


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("boolean is not a timestamp")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    if text[:4].isdigit() and len(text) >= 10 and text[4] == "-":
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        # fromisoformat accepts at most 6 fractional digits; trim longer fractions.
        if "." in iso:
            head, _, rest = iso.partition(".")
            digits = len(rest) - len(rest.lstrip("0123456789"))
            if digits > 6:
                iso = head + "." + rest[:6] + rest[digits:]
        dt = datetime.fromisoformat(iso)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    from email.utils import parsedate_to_datetime  # (RFC 822 dates are rare: email loads on first use)

    dt = parsedate_to_datetime(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def to_datetime(value: object) -> datetime:
    """Normalize what a provider returns for a timestamp (datetime, epoch, string)."""
    return parse_timestamp(value)


def format_timestamp(value: object, fmt: str) -> str | float | int:
    """Write a timestamp as `iso8601`, `unixtimestamp` or `rfc822` (case-insensitive)."""
    dt = to_datetime(value)
    fmt = fmt.lower()
    if fmt == "iso8601":
        dt = dt.astimezone(UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    if fmt == "unixtimestamp":
        ts = dt.timestamp()
        ms = round(ts * 1000)
        return ms // 1000 if ms % 1000 == 0 else ms / 1000
    if fmt == "rfc822":
        from email.utils import formatdate

        return formatdate(dt.timestamp(), usegmt=True)
    raise ValueError(f"unknown timestamp format {fmt}")


def b64encode(value: bytes | bytearray | memoryview | str) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def b64decode(value: str, where: str = "") -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        try:
            # AWS decoders are lenient with whitespace and missing padding.
            text = "".join(str(value).split())
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"Invalid base64 value{' for ' + where if where else ''}") from None


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValueError(f"not a boolean: {text!r}")


def parse_float(value: object) -> float:
    if isinstance(value, str):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if value in special:
            return special[value]
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    return float(value)  # type: ignore[arg-type]  # any other type: float() raises, as wanted


def float_out(value: float) -> float | str:
    """Floats that JSON cannot carry travel as strings, as botocore expects."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def float_text(value: float) -> str:
    out = float_out(float(value))
    return out if isinstance(out, str) else repr(out)
