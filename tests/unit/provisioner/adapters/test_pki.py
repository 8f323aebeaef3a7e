"""The lab CA signs a server certificate a TLS client accepts for the platform's name only."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from provisioner.adapters import pki


def test_server_certificate_is_signed_by_the_ca_for_its_name_and_address() -> None:
    ca = pki.make_ca("Test CA")
    server = pki.issue_server(ca, "meet.example.test", "10.0.0.40")
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    cert = x509.load_pem_x509_certificate(server.cert_pem.encode())
    cert.verify_directly_issued_by(ca_cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["meet.example.test"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.40")]
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "PRIVATE KEY" in server.key_pem and "PRIVATE KEY" not in server.cert_pem


def test_an_rsa_certificate_named_by_an_address_for_freerdp() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    ca = pki.make_ca("Test CA")
    server = pki.issue_server(ca, "10.89.1.11", "10.89.1.11", rsa_bits=3072)
    cert = x509.load_pem_x509_certificate(server.cert_pem.encode())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem.encode()))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 3072
    # FreeRDP's client matches the host against the common name and the DNS names only
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "10.89.1.11"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.89.1.11" in names.get_values_for_type(x509.DNSName)
