"""The course's Dask certificates: a CA of its own and a key for each role of the cluster.

    python -m grading.certs [--out DIR] [--days N] [--force]     (`make grade-certs`)

Dask's TLS (distributed.security.Security) authenticates both ends of every connection: each
side presents a certificate and accepts the other's only if the course CA signed it. This
writes, into DIR (default ./dask-certs):

    DIR/scheduler/  ca.pem cert.pem key.pem    copy to the scheduler's machine
    DIR/worker/     ca.pem cert.pem key.pem    copy to every worker machine
    DIR/client/     ca.pem cert.pem key.pem    stays on the instructor's machine (the driver)
    DIR/ca.pem                                 the CA certificate, for reference

The CA's private key is made, used to sign the three certificates and thrown away: it is never
written anywhere, so no one can issue a certificate later, and running this again (--force)
with a new CA is how every old key is revoked. Keys are ECDSA P-256, certificates are valid
for --days (a term, by default). Folders are mode 0700 and keys 0600; DIR gets a .gitignore
of `*`, so a course directory under git never commits them. docs/GRADING.md ("The cluster")
says what they protect and what they do not.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

ROLES = ("scheduler", "worker", "client")
FILES = ("ca.pem", "cert.pem", "key.pem")
DEFAULT_DAYS = 180


def _name(common_name: str):
    from cryptography import x509  # noqa: PLC0415 (only `make grade-certs` needs it)
    from cryptography.x509.oid import NameOID  # noqa: PLC0415
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "seq2seq-course grading"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, subject_key, issuer, issuer_key, days: int, ca: bool, usages):
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    now = datetime.datetime.now(datetime.UTC)
    public = subject_key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks a bit behind
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                              critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=not ca, key_cert_sign=ca, crl_sign=ca,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certs(out: Path, days: int = DEFAULT_DAYS, force: bool = False) -> list[Path]:
    """Write a new CA's certificate and a signed key for each role into `out` (layout above);
    the files written. Refuses (FileExistsError) to replace existing ones unless `force`."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import ExtendedKeyUsageOID as EKU  # noqa: PLC0415
    existing = [out / role / name for role in ROLES for name in FILES
                if (out / role / name).exists()]
    if existing and not force:
        raise FileExistsError(f"{out} already has certificates ({existing[0].name} of "
                              f"{existing[0].parent.name}/); --force replaces them all, and "
                              "every machine of the cluster then needs its new folder")
    ca_key = ec.generate_private_key(ec.SECP256R1())  # lives only in this function
    ca_name = _name("seq2seq-course grading CA")
    ca = _certificate(ca_name, ca_key, ca_name, ca_key, days, ca=True, usages=None)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    # the scheduler and the workers both listen and connect; the client only connects
    usages = {"scheduler": [EKU.SERVER_AUTH, EKU.CLIENT_AUTH],
              "worker": [EKU.SERVER_AUTH, EKU.CLIENT_AUTH], "client": [EKU.CLIENT_AUTH]}
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    (out / ".gitignore").write_text("# keys: never commit them (grading/certs.py)\n*\n")
    written = [_write(out / "ca.pem", ca_pem, 0o644)]
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(_name(f"dask {role}"), key, ca_name, ca_key, days, ca=False,
                            usages=usages[role])
        folder = out / role
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o700)
        written += [
            _write(folder / "ca.pem", ca_pem, 0o644),
            _write(folder / "cert.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644),
            _write(folder / "key.pem", key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()), 0o600),
        ]
    return written


def _write(path: Path, data: bytes, mode: int) -> Path:
    """Write `data` to `path` with `mode` from the start (a key is never readable by others,
    even for a moment); replaces what was there."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def role_files(folder: Path) -> dict[str, Path]:
    """ca.pem, cert.pem, key.pem of one role's folder; SystemExit saying what is missing."""
    files = {name: folder / name for name in FILES}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise SystemExit(f"grade: no {', '.join(missing)} in {folder}: run `make grade-certs` "
                         "(docs/GRADING.md, \"The cluster\")")
    return files


def security(folders: dict[str, Path]):
    """A distributed.security.Security for the roles given (role -> its folder), encryption
    required: the driver passes {"client": ...}; a LocalCluster (the tests) all three."""
    from distributed.security import Security  # noqa: PLC0415
    options = {}
    for role, folder in folders.items():
        files = role_files(folder)
        options["tls_ca_file"] = str(files["ca.pem"])
        options[f"tls_{role}_cert"] = str(files["cert.pem"])
        options[f"tls_{role}_key"] = str(files["key.pem"])
    return Security(require_encryption=True, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the course CA and the Dask "
                                     "scheduler, worker and client certificates.")
    parser.add_argument("--out", type=Path, default=Path("dask-certs"),
                        help="folder to write them to (default: ./dask-certs)")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS,
                        help="days the certificates are valid (default %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="replace existing certificates (a new CA: the old keys stop "
                             "working everywhere)")
    args = parser.parse_args(argv)
    try:
        make_certs(args.out, args.days, args.force)
    except FileExistsError as e:
        print(f"grade-certs: {e}", file=sys.stderr)
        return 1
    out = args.out.resolve()
    print(f"grade-certs: a new CA and keys in {out}, valid {args.days} days:\n"
          f"  {out}/scheduler/  copy to the scheduler's machine\n"
          f"  {out}/worker/     copy to every worker machine\n"
          f"  {out}/client/     stays here: `make grade DASK=tls://HOST:8786` uses it\n"
          "Keep them out of /usr, /etc and the venv (the kernel sandbox mounts those); how to "
          "start the cluster with them: docs/GRADING.md, \"The cluster\".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
