"""``bmefhir keys generate|jwks``: the key pair a SMART Backend Services client signs with."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from bmefhir.cli.output import err
from bmefhir.smart.keys import (
    ENV_PRIVATE_KEY,
    KeyLoadError,
    generate_key,
    load_signing_key,
    private_key_pem,
    signing_key,
)

app = typer.Typer(help="Create and publish SMART Backend Services signing keys.", no_args_is_help=True)


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key (PEM, mode 0600)")],
    alg: Annotated[
        Literal["RS384", "ES384"], typer.Option("--alg", help="RS384 (RSA 3072) or ES384 (P-384)")
    ] = "ES384",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a new private key; register the output of ``bmefhir keys jwks`` with the EHR."""
    key = generate_key(alg)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(out, flags, 0o600)  # created private: the key never exists world-readable
    except FileExistsError:
        err.print(f"[red]{out} exists[/]; pass --force to overwrite it")
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[red]cannot write {out}[/]: {exc.strerror}")
        raise typer.Exit(1) from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))
    os.chmod(out, 0o600)  # --force on an existing, looser file
    kid = signing_key(key).kid
    err.print(f"wrote {alg} private key to {out} (kid {kid}); next: bmefhir keys jwks --key {out}")


@app.command()
def jwks(
    key: Annotated[
        Path | None, typer.Option("--key", help=f"Private key file (PEM or JWK); default: ${ENV_PRIVATE_KEY}")
    ] = None,
) -> None:
    """Print the public JWKS (kid = RFC 7638 thumbprint) to register with the EHR's authorization server."""
    try:
        signing = load_signing_key(key)
    except KeyLoadError as exc:
        err.print(f"[red]cannot load the key[/]: {exc}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(signing.jwks(), indent=2))
