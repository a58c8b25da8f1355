"""An S3-compatible object store for tests: moto's server, in its own process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.support.services import free_port


@dataclass
class ObjectStore:
    """An S3-compatible server on a local port (moto's, a separate process) and one bucket.

    The artifact store's `s3` backend (django-storages over boto3) talks to it through
    real HTTP, as it would to S3 or MinIO on another host.
    """

    process: subprocess.Popen[bytes]
    url: str
    bucket: str = "winnow-test"

    ENV = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    @classmethod
    def start(cls) -> ObjectStore:
        port = free_port()
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("moto_server")),
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        store = cls(process, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.2)
        client = boto3.client("s3", endpoint_url=store.url, **store.credentials())
        client.create_bucket(Bucket=store.bucket)
        return store

    @classmethod
    def credentials(cls) -> dict[str, str]:
        return {
            "aws_access_key_id": cls.ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": cls.ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": cls.ENV["AWS_DEFAULT_REGION"],
        }

    def storage(self) -> dict[str, object]:
        """The STORAGES["artifacts"] entry `WINNOW_ARTIFACTS=s3` gives for this server."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.url,
                "region_name": self.ENV["AWS_DEFAULT_REGION"],
                "access_key": self.ENV["AWS_ACCESS_KEY_ID"],
                "secret_key": self.ENV["AWS_SECRET_ACCESS_KEY"],
                "location": "winnow",
                "file_overwrite": True,
            },
        }

    def env(self) -> dict[str, str]:
        """The environment a worker on another host sets for the same store."""
        return {
            **self.ENV,
            "WINNOW_ARTIFACTS": "s3",
            "WINNOW_S3_BUCKET": self.bucket,
            "WINNOW_S3_ENDPOINT_URL": self.url,
            "WINNOW_S3_REGION": self.ENV["AWS_DEFAULT_REGION"],
        }

    def object_keys(self) -> list[str]:
        client = boto3.client("s3", endpoint_url=self.url, **self.credentials())
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
