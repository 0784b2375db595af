"""``python manage.py generate_signing_key PATH``: write a new RSA private key (PEM) for tokens."""

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.identity.keys import thumbprint


class Command(BaseCommand):
    help = (
        "Write a new 2048-bit RSA private key (PEM, readable by the owner only) for "
        "JWT_PRIVATE_KEY_FILE. Refuses to overwrite an existing file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        target = Path(path)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise CommandError(f"{target} exists; not overwriting a signing key.") from exc
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        self.stdout.write(f"wrote {target} (kid {thumbprint(key.public_key())})")
