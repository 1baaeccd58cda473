"""DKIM signatures (RFC 6376) on the mail Herald's own SMTP path sends.

Here, beside the SMTP adapter, rather than in `tracking`: a signature belongs to the
message's bytes and the sending domain, whatever the message carries; an API provider
(SendGrid, Mailchimp) signs with its own keys.

dkimpy (pinned) builds and canonicalizes the signature, and is what the tests verify with.
Its RSA arithmetic is pure Python, though: 5.7 ms of CPU per message with a 2048-bit key,
ten times the rest of an email's delivery. So the RSA operation itself is OpenSSL's (the
`cryptography` package, 0.26 ms): dkimpy hands a pre-computed SHA-256 digest to `pk.sign`
on its ed25519 path, and `_OpenSslSigning` routes its rsa-sha256 signature through that
path with an object that signs the digest with PKCS#1 v1.5. The signature is byte for byte
what dkimpy's own RSA would make (PKCS#1 v1.5 is deterministic); the test verifies it with
dkimpy's verifier.

Signed: From, To, Subject, Date, Message-ID, List-Unsubscribe, List-Unsubscribe-Post and
the MIME headers, each that is present (From twice, so none can be added), relaxed/relaxed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from herald.config import DkimKey

log = logging.getLogger(__name__)

SIGNED = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


@dataclass(frozen=True, slots=True)
class _Signature:
    signature: bytes


@dataclass(frozen=True, slots=True)
class _PrehashedRsa:
    """What dkimpy's digest path calls: `sign(digest).signature`."""

    key: rsa.RSAPrivateKey

    def sign(self, digest: bytes) -> _Signature:
        return _Signature(self.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256())))


class _OpenSslSigning(dkim.DKIM):  # type: ignore[misc]
    """dkimpy's signer with the RSA operation done by OpenSSL (see the module docstring)."""

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message, linesep=b"\r\n")
        self._rsa = _PrehashedRsa(key)

    def gen_header(self, fields: Any, include_headers: Any, canon_policy: Any, header_name: Any, pk: Any,
                   standardize: bool = False) -> bytes:  # fmt: skip
        # Both algorithms hash with SHA-256; only the branch that signs the digest differs.
        self.signature_algorithm = b"ed25519-sha256"
        try:
            out: bytes = super().gen_header(fields, include_headers, canon_policy, header_name, self._rsa, standardize)
        finally:
            self.signature_algorithm = b"rsa-sha256"
        return out


@dataclass(frozen=True, slots=True)
class _Domain:
    selector: bytes
    pem: bytes
    key: rsa.RSAPrivateKey


class DkimSigner:
    """Signs a message with its sending domain's key; a domain without a key is sent unsigned."""

    def __init__(self, keys: Mapping[str, DkimKey]) -> None:
        self._domains: dict[str, _Domain] = {}
        for domain, config in keys.items():
            pem = config.pem()
            key = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"the DKIM key of {domain} is not an RSA key (rsa-sha256 is what receivers verify)")
            self._domains[domain.lower().rstrip(".")] = _Domain(config.selector.encode(), pem, key)

    def __bool__(self) -> bool:
        return bool(self._domains)

    def signs(self, domain: str) -> bool:
        return domain.lower() in self._domains

    def sign(self, message: bytes, domain: str) -> bytes:
        """`message` with a DKIM-Signature header first (unchanged if `domain` has no key)."""
        d = self._domains.get(domain.lower())
        if d is None:
            return message
        signer = _OpenSslSigning(message, d.key)
        present = {name.lower() for name, _ in signer.headers}
        include = [h for h in SIGNED if h in present]
        include.append(b"from")  # over-signed: a second From cannot be added unnoticed
        header: bytes = signer.sign(
            d.selector, domain.lower().encode(), d.pem, canonicalize=(b"relaxed", b"relaxed"), include_headers=include
        )
        return header + message
