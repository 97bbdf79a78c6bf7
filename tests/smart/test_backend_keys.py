"""Signing keys for Backend Services: thumbprints, loading from files and the environment, the keys CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from typer.testing import CliRunner

from bmefhir.cli import app
from bmefhir.smart.keys import (
    KeyLoadError,
    generate_key,
    jwk_thumbprint,
    load_signing_key,
    private_key_pem,
    signing_key,
)

# RFC 7638 §3.1 example key and its published thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
    "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qM"
    "QvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module")
def es_key() -> ec.EllipticCurvePrivateKey:
    key = generate_key("ES384")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def test_thumbprint_matches_rfc7638_example() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert jwk_thumbprint(jwk) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_generated_key_round_trips_through_pem_and_verifies_with_its_jwks(alg: str, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(private_key_pem(generate_key(alg)))  # type: ignore[arg-type]
    key = load_signing_key(path)
    jwks = key.jwks()
    (public,) = jwks["keys"]
    assert key.alg == alg
    assert public["kid"] == key.kid == jwk_thumbprint(public)
    assert public["alg"] == alg
    assert public["use"] == "sig"
    assert "d" not in public
    assert "p" not in public
    token = jwt.encode({"sub": "x"}, key.private_key, algorithm=alg)
    assert jwt.decode(token, jwt.PyJWK(public).key, algorithms=[alg])["sub"] == "x"


def test_ec_public_coordinates_are_fixed_width(es_key: ec.EllipticCurvePrivateKey) -> None:
    jwk = signing_key(es_key).public_jwk()
    assert len(jwk["x"]) == len(jwk["y"]) == 64  # 48 bytes, base64url without padding


def test_private_jwk_file_keeps_its_registered_kid(es_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    jwk = json.loads(ECAlgorithm.to_jwk(es_key))
    jwk["kid"] = "registered-2024"
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps({"keys": [jwk]}))
    key = load_signing_key(path)
    assert (key.alg, key.kid) == ("ES384", "registered-2024")


def test_public_jwk_cannot_sign(es_key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> None:
    path = tmp_path / "public.jwk"
    path.write_text(json.dumps(signing_key(es_key).public_jwk()))
    with pytest.raises(KeyLoadError, match="public JWK"):
        load_signing_key(path)


def test_key_from_the_environment(es_key: ec.EllipticCurvePrivateKey) -> None:
    env = {"BMEFHIR_PRIVATE_KEY": private_key_pem(es_key).decode()}
    assert load_signing_key(environ=env).kid == signing_key(es_key).kid


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(KeyLoadError, match="BMEFHIR_PRIVATE_KEY"):
        load_signing_key(environ={})


def test_wrong_curve_and_small_rsa_are_refused(tmp_path: Path) -> None:
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(private_key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyLoadError, match="P-384"):
        load_signing_key(p256)
    small = tmp_path / "small.pem"
    small.write_bytes(private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))
    with pytest.raises(KeyLoadError, match="too small"):
        load_signing_key(small)


def test_encrypted_and_garbled_files_are_clear_errors_without_contents(
    es_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        es_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(KeyLoadError, match="encrypted"):
        load_signing_key(encrypted)
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyLoadError) as caught:
        load_signing_key(garbled)
    assert "c2VjcmV0LWJ5dGVz" not in str(caught.value)
    with pytest.raises(KeyLoadError, match="cannot read"):
        load_signing_key(tmp_path / "absent.pem")


def test_cli_generate_then_jwks(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "key.pem"
    result = runner.invoke(app, ["keys", "generate", "--alg", "ES384", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = runner.invoke(app, ["keys", "generate", "--out", str(out)])
    assert again.exit_code == 1  # never overwrites a key by accident
    printed = runner.invoke(app, ["keys", "jwks", "--key", str(out)])
    assert printed.exit_code == 0, printed.output
    jwks = json.loads(printed.stdout)
    assert jwks["keys"][0]["kid"] == load_signing_key(out).kid
    assert "PRIVATE" not in printed.stdout


def test_cli_jwks_without_a_key_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BMEFHIR_PRIVATE_KEY", raising=False)
    result = CliRunner().invoke(app, ["keys", "jwks"])
    assert result.exit_code == 1
    assert "BMEFHIR_PRIVATE_KEY" in result.output
