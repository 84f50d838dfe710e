import base64
import hashlib

import pytest

from sync.tus import (
    TusHeaderError,
    checksum_header,
    checksum_matches,
    encode_metadata,
    metadata_text,
    parse_checksum,
    parse_metadata,
    parse_non_negative,
)


def test_offsets() -> None:
    assert parse_non_negative("0", "Upload-Offset") == 0
    assert parse_non_negative("262144", "Upload-Offset") == 262144
    for bad in [None, "", "-1", "1.5", "abc", "1e3"]:
        with pytest.raises(TusHeaderError):
            parse_non_negative(bad, "Upload-Offset")


def test_metadata_round_trip() -> None:
    header = encode_metadata({"filename": "fachada.jpg", "sha256": "ab" * 32})
    meta = parse_metadata(header)
    assert metadata_text(meta, "filename") == "fachada.jpg"
    assert metadata_text(meta, "sha256") == "ab" * 32
    assert parse_metadata("is_confidential,name " + base64.b64encode(b"x").decode()) == {
        "is_confidential": None,
        "name": b"x",
    }
    assert parse_metadata(None) == {}


@pytest.mark.parametrize("bad", ["k !!!", "k a b", "k YQ==,k YQ==", " , "])
def test_bad_metadata(bad: str) -> None:
    with pytest.raises(TusHeaderError):
        parse_metadata(bad)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksums(algorithm: str) -> None:
    data = b"chunk of a photo"
    parsed = parse_checksum(checksum_header(algorithm, data))
    assert parsed is not None
    assert parsed[0] == algorithm
    assert checksum_matches(*parsed, data)
    assert not checksum_matches(*parsed, data + b"!")


@pytest.mark.parametrize(
    "bad",
    [
        "md5 " + base64.b64encode(hashlib.md5(b"x").digest()).decode(),
        "sha1",
        "sha1 not-base64!",
        "sha256 " + base64.b64encode(hashlib.sha1(b"x").digest()).decode(),
    ],
)
def test_bad_checksum_headers(bad: str) -> None:
    with pytest.raises(TusHeaderError):
        parse_checksum(bad)
    assert parse_checksum(None) is None
