"""Signing keys for SMART Backend Services: generate, load (PEM, JWK, environment), publish as a JWKS.

SMART asks for RS384 or ES384 (``client-confidential-asymmetric``). The algorithm
follows from the key: RSA (2048 bits or more) signs RS384, EC P-384 signs ES384.
The key id is the RFC 7638 thumbprint of the public key unless a JWK file names
its own ``kid`` (then that is what the EHR registered).

    key = generate_key("ES384")
    Path("key.pem").write_bytes(private_key_pem(key))
    signing = load_signing_key(Path("key.pem"))
    print(json.dumps(signing.jwks()))
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

__all__ = [
    "ENV_PRIVATE_KEY",
    "Algorithm",
    "KeyLoadError",
    "PrivateKey",
    "SigningKey",
    "generate_key",
    "jwk_thumbprint",
    "load_signing_key",
    "private_key_pem",
    "signing_key",
]

Algorithm = Literal["RS384", "ES384"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
ENV_PRIVATE_KEY = "BMEFHIR_PRIVATE_KEY"
MIN_RSA_BITS = 2048
GENERATED_RSA_BITS = 3072
# RFC 7638 §3.2: the thumbprint hashes only the required public members, in lexicographic order.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


class KeyLoadError(ValueError):
    """A key could not be read or is not usable for SMART (wrong type, curve or size). Never quotes key material."""


@dataclass(frozen=True, repr=False)
class SigningKey:
    """A private key with the algorithm it signs with and the ``kid`` the EHR knows it by."""

    private_key: PrivateKey
    alg: Algorithm
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK, ready for registration (``use: sig``, ``alg``, ``kid``)."""
        jwk = _public_members(self.private_key)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", "key_ops": ["verify"]}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r}, private_key=<hidden>)"


def generate_key(alg: Algorithm) -> PrivateKey:
    """A new private key for ``alg``: RSA 3072 bits for RS384, EC P-384 for ES384."""
    if alg == "RS384":
        return rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_RSA_BITS)
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    raise KeyLoadError(f"unsupported algorithm {alg!r}; SMART Backend Services uses one of {', '.join(ALGORITHMS)}")


def private_key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM (protect the file with permissions, as ``bmefhir keys generate`` does)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of a public or private JWK."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(str(kty))
    if members is None:
        raise KeyLoadError(f"cannot compute a thumbprint for key type {kty!r} (RSA or EC expected)")
    missing = [m for m in members if not isinstance(jwk.get(m), str)]
    if missing:
        raise KeyLoadError(f"JWK of type {kty} lacks {', '.join(missing)}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_signing_key(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None, env_var: str = ENV_PRIVATE_KEY
) -> SigningKey:
    """The signing key from ``path`` (PEM, JWK or a one-key JWKS), else from ``$env_var`` (PEM)."""
    if path is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyLoadError(f"cannot read key file {path}: {exc.strerror or type(exc).__name__}") from None
        return _parse(data, f"key file {path}")
    env = os.environ if environ is None else environ
    pem = env.get(env_var)
    if not pem:
        raise KeyLoadError(f"no private key: give a key file or set {env_var} to a PEM private key")
    return _parse(pem.encode(), f"${env_var}")


def signing_key(private_key: PrivateKey, kid: str | None = None) -> SigningKey:
    """Wrap a key object, checking it suits SMART; ``kid`` defaults to the RFC 7638 thumbprint."""
    alg = _algorithm_for(private_key)
    return SigningKey(private_key, alg, kid or jwk_thumbprint(_public_members(private_key)))


# ---------------------------------------------------------------- internals


def _parse(data: bytes, where: str) -> SigningKey:
    text = data.strip()
    if text.startswith(b"{"):
        return _from_jwk(text, where)
    if b"-----BEGIN" not in text:
        raise KeyLoadError(f"{where} holds neither a PEM private key nor a JWK")
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except TypeError:
        raise KeyLoadError(
            f"{where} is encrypted; give an unencrypted PKCS#8 key (protect it by file permissions)"
        ) from None
    except ValueError:
        raise KeyLoadError(f"{where} is not a readable PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"{where} holds a {type(key).__name__}; SMART needs an RSA or EC P-384 key")
    return _checked(key, None, where)


def _from_jwk(text: bytes, where: str) -> SigningKey:
    try:
        doc = json.loads(text)
    except ValueError:
        raise KeyLoadError(f"{where} is not valid JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        private = [k for k in doc["keys"] if isinstance(k, dict) and "d" in k]
        if len(private) != 1:
            raise KeyLoadError(f"{where} is a JWKS with {len(private)} private keys; exactly one is needed")
        doc = private[0]
    if not isinstance(doc, dict):
        raise KeyLoadError(f"{where} is not a JWK object")
    if "d" not in doc:
        raise KeyLoadError(f"{where} holds a public JWK; signing needs the private key (member 'd')")
    kty = doc.get("kty")
    try:
        if kty == "RSA":
            key: object = RSAAlgorithm.from_jwk(doc)
        elif kty == "EC":
            key = ECAlgorithm.from_jwk(doc)
        else:
            raise KeyLoadError(f"{where} has key type {kty!r}; SMART needs RSA or EC")
    except (InvalidKeyError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, KeyLoadError):
            raise
        raise KeyLoadError(f"{where} is not a valid {kty} private JWK") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyLoadError(f"{where} did not yield a private key")
    kid = doc.get("kid")
    checked = _checked(key, kid if isinstance(kid, str) and kid else None, where)
    declared = doc.get("alg")
    if declared is not None and declared != checked.alg:
        raise KeyLoadError(f"{where} declares alg {declared!r} but its key signs {checked.alg}")
    return checked


def _checked(key: PrivateKey, kid: str | None, where: str) -> SigningKey:
    try:
        return signing_key(key, kid)
    except KeyLoadError as exc:
        raise KeyLoadError(f"{where}: {exc}") from None


def _algorithm_for(key: PrivateKey) -> Algorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyLoadError(f"RSA key of {key.key_size} bits is too small (at least {MIN_RSA_BITS})")
        return "RS384"
    if isinstance(key.curve, ec.SECP384R1):
        return "ES384"
    raise KeyLoadError(f"EC key on curve {key.curve.name}; ES384 needs P-384 (secp384r1)")


def _public_members(key: PrivateKey) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
    ec_numbers = public.public_numbers()
    size = (public.curve.key_size + 7) // 8  # fixed-width coordinates (RFC 7518 §6.2.1.2)
    return {
        "kty": "EC",
        "crv": "P-384",
        "x": _b64url(ec_numbers.x.to_bytes(size, "big")),
        "y": _b64url(ec_numbers.y.to_bytes(size, "big")),
    }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
