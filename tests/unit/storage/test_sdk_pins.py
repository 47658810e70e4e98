"""The parts of the minio SDK the S3 store calls outside its client class still have the shape we use.

``S3Store`` signs its own PUTs and HEADs with ``minio.signer.sign_v4_s3`` (public, but not in the
SDK's API reference), builds ``S3Error`` from S3's error document and formats the date with
``minio.time``. When a re-lock moves the SDK, this names what changed instead of letting every
chunk write fail. The signature it computes is checked against MinIO by
tests/integration/storage/test_s3.py.
"""

from __future__ import annotations

import inspect

import minio
from minio.error import S3Error
from minio.signer import sign_v4_s3
from minio.time import to_amz_date, utcnow


def test_sign_v4_s3_takes_the_keywords_we_pass() -> None:
    parameters = inspect.signature(sign_v4_s3).parameters
    for name in ("method", "url", "region", "headers", "credentials", "content_sha256", "date"):
        assert name in parameters, f"minio {minio.__version__}: sign_v4_s3 lost {name!r}"


def test_s3_error_constructor_takes_what_we_pass() -> None:
    parameters = list(inspect.signature(S3Error.__init__).parameters)
    assert parameters[1:7] == ["response", "code", "message", "resource", "request_id", "host_id"]
    assert "object_name" in parameters


def test_amz_date_format() -> None:
    assert len(to_amz_date(utcnow())) == len("20260101T000000Z")
