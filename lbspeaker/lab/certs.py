"""Lab PKI: a CA, the apiserver's serving certificate and the service-account key, via openssl."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path


class CertificateError(Exception):
    """openssl is missing or failed."""


@dataclass(frozen=True)
class LabPKI:
    """Paths of the files the control plane needs."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"


def _openssl(*args: str, stdin: bytes | None = None) -> None:
    try:
        subprocess.run(["openssl", *args], input=stdin, check=True, capture_output=True)
    except FileNotFoundError as error:
        raise CertificateError("openssl not found; apt-get install openssl") from error
    except subprocess.CalledProcessError as error:
        detail = error.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise CertificateError(f"openssl {args[0]} failed: {' '.join(detail)}") from error


def create_pki(directory: Path, ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> LabPKI:
    """Creates a fresh CA and a serving certificate valid for the given addresses."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = LabPKI(directory)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(pki.ca_key))
    _openssl(
        "req", "-x509", "-new", "-key", str(pki.ca_key), "-days", "365",
        "-subj", "/CN=lbspeaker-lab-ca", "-out", str(pki.ca_cert),
    )  # fmt: skip
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(pki.serving_key))
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    san = ",".join([f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ips])
    extensions = directory / "serving.ext"
    extensions.write_text(
        f"subjectAltName={san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"
    )
    csr = directory / "apiserver.csr"
    _openssl(
        "req", "-new", "-key", str(pki.serving_key), "-subj", "/CN=kube-apiserver",
        "-out", str(csr),
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
        "-CAcreateserial", "-days", "365", "-extfile", str(extensions),
        "-out", str(pki.serving_cert),
    )  # fmt: skip
    # Service-account tokens are signed with RSA (RS256 is what every client library accepts).
    _openssl("genrsa", "-out", str(pki.service_account_key), "2048")
    _openssl(
        "rsa", "-in", str(pki.service_account_key), "-pubout", "-out", str(pki.service_account_pub)
    )
    return pki


def create_self_signed(directory: Path, dns_names: list[str]) -> tuple[Path, Path]:
    """A self-signed serving certificate for `dns_names` and its key: (cert, key). A client
    trusts it by naming the certificate itself as its CA (`curl --cacert`)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = directory / "tls.crt", directory / "tls.key"
    san = ",".join(f"DNS:{name}" for name in dns_names)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "365", "-subj", f"/CN={dns_names[0]}", "-addext", f"subjectAltName={san}",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key
