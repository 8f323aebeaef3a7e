"""The lab comune's meeting platform: one HTTPS page on the office network (`provisioner lab up`).

Runs inside the lab-meet container with the python3 of the lab image: ``platform.py ADDRESS
CERT KEY ROOT``. The certificate is signed by the lab's own CA, which `enable` makes the
laptops trust (comune_meeting_ca_certificate), as a comune with a private CA would.
"""

import functools
import http.server
import ssl
import sys


def main() -> None:
    address, cert, key, root = sys.argv[1:5]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
    server = http.server.ThreadingHTTPServer((address, 443), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
