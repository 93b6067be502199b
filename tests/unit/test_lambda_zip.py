"""Deployment packages are checked whole at upload (check_zip): a zip that cannot be unpacked as
it claims is refused with AWS's InvalidParameterValueException then, never a failure at invoke."""

from __future__ import annotations

import io
import stat
import struct
import zipfile

import pytest

from cloudlet.services.lambda_.code import check_zip
from cloudlet.services.lambda_.errors import InvalidParameterValueException

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."


def make_zip(members: list[tuple[str, bytes] | tuple[str, bytes, int]]) -> bytes:
    """Members as (name, data) or (name, data, unix mode); stored, so bytes are easy to patch."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data, *mode in members:
            info = zipfile.ZipInfo(name)
            if mode:
                info.external_attr = mode[0] << 16
            z.writestr(info, data)
    return buf.getvalue()


def symlink(name: str, target: str) -> tuple[str, bytes, int]:
    return (name, target.encode(), stat.S_IFLNK | 0o777)


def with_flipped_data_byte(data: bytes) -> bytes:
    """The first member's content changed after the fact: its CRC no longer matches."""
    raw = bytearray(data)
    name_len, extra_len = struct.unpack_from("<HH", raw, 26)
    raw[30 + name_len + extra_len] ^= 0xFF
    return bytes(raw)


def with_lying_size(data: bytes, size: int) -> bytes:
    """The first member's uncompressed size, in its local header and directory entry, says `size`."""
    raw = bytearray(data)
    struct.pack_into("<I", raw, 22, size)
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, size)
    return bytes(raw)


GOOD = make_zip([("app.py", b"def handler(e, c):\n    return 1\n"), ("lib/util.py", b"X = 1\n")])


def test_a_good_package_and_links_inside_it_pass():
    check_zip(GOOD)
    check_zip(make_zip([("real/a.py", b"A = 1\n"), symlink("alias.py", "real/a.py"),
                        symlink("real/b.py", "../real/./a.py"), ("dir/", b"")]))


@pytest.mark.parametrize("data", [
    pytest.param(b"not a zip at all", id="not-a-zip"),
    pytest.param(GOOD[: len(GOOD) // 2], id="truncated"),
    pytest.param(with_flipped_data_byte(GOOD), id="bad-crc"),
    pytest.param(with_lying_size(GOOD, 10_000), id="directory-lies-about-size"),
    pytest.param(make_zip([("../evil.py", b"x")]), id="leaves-the-package"),
    pytest.param(make_zip([("/etc/evil.py", b"x")]), id="absolute-name"),
    pytest.param(make_zip([("ok/../../evil.py", b"x")]), id="climbs-out"),
    pytest.param(make_zip([symlink("passwd", "/etc/passwd")]), id="link-to-an-absolute-path"),
    pytest.param(make_zip([symlink("sub/up", "../../outside")]), id="link-out-of-the-package"),
    pytest.param(make_zip([symlink("lib", "real"), ("lib/a.py", b"x")]), id="link-used-as-directory"),
    pytest.param(make_zip([("lib", b"a file"), ("lib/a.py", b"x")]), id="file-used-as-directory"),
])
def test_a_package_that_cannot_be_unpacked_as_it_claims_is_refused(data):
    with pytest.raises(InvalidParameterValueException) as refused:
        check_zip(data)
    assert refused.value.message == UNZIP_ERROR
