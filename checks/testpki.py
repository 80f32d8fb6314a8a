"""A throw-away PKI for the TLS checks, made with `cryptography` (Debian's python3-cryptography):
a CA, server certificates for 127.0.0.1/localhost (current, expired, for another name), client
certificates (from the CA and from a stranger CA). Nothing here is a test double: corsd, curl,
Python's ssl and openssl all verify these certificates for real.
"""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(cn, org="corsd checks"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path


class CA:
    def __init__(self, directory, cn):
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
                     .not_valid_after(NOW + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        slug = cn.replace(" ", "-")
        self.pem = _write(os.path.join(directory, f"{slug}.pem"), self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem, cn, names=(), ips=(), client=False, not_before=None, not_after=None, org="corsd checks"):
        """Writes stem.pem (leaf, then this CA: a chain) and stem.key; returns (cert, key) paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = (x509.CertificateBuilder().subject_name(_name(cn, org)).issuer_name(self.name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
                   .not_valid_after(not_after or NOW + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert.public_bytes(serialization.Encoding.PEM)
        cert_path = _write(os.path.join(self.dir, f"{stem}.pem"), chain)
        key_path = _write(os.path.join(self.dir, f"{stem}.key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert_path, key_path


def make(directory):
    """The PKI the checks use, as a dict of paths."""
    ca = CA(directory, "corsd checks CA")
    stranger = CA(directory, "stranger CA")
    p = {"ca": ca.pem, "stranger_ca": stranger.pem}
    p["server"], p["server_key"] = ca.issue("server", "corsd one", names=["localhost"], ips=["127.0.0.1"])
    p["server2"], p["server2_key"] = ca.issue("server2", "corsd two", names=["localhost"], ips=["127.0.0.1"])
    p["upstream"], p["upstream_key"] = ca.issue("upstream", "omero-web", names=["localhost"], ips=["127.0.0.1"])
    p["expired"], p["expired_key"] = ca.issue("expired", "omero-web expired", names=["localhost"], ips=["127.0.0.1"],
                                              not_before=NOW - datetime.timedelta(days=60), not_after=NOW - datetime.timedelta(days=30))
    p["wrongname"], p["wrongname_key"] = ca.issue("wrongname", "elsewhere", names=["elsewhere.example"])
    p["client"], p["client_key"] = ca.issue("client", "ansible", client=True, org="Example Ops")
    p["stranger_client"], p["stranger_client_key"] = stranger.issue("stranger-client", "mallory", client=True)
    return p
