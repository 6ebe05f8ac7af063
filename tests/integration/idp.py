#!/usr/bin/python3
"""A stand-in OpenID provider for the federation tests.

  idp.py serve DIR   mint a CA-signed TLS certificate for 127.0.0.1, RSA and
                     EC signing keys, write DIR/ca.pem and DIR/jwks.json,
                     serve https://127.0.0.1:<port>/jwks (the port goes to
                     DIR/port) until killed. jwks.json is re-read per request,
                     each fetch counted in DIR/fetches and answered after
                     0.3 s (a slow issuer).
  idp.py sign DIR ALG KID CLAIMS_JSON
                     print a JWS over CLAIMS_JSON with the key for ALG
                     (RS256/RS384/RS512 use the RSA key, ES256/ES384/ES512
                     the P-256/P-384/P-521 keys, HS256 a shared secret, none
                     no key).

Independent of Caracal's code: PyJWT and cryptography (Debian python3-jwt,
python3-cryptography) do the JOSE work.
"""
import datetime
import http.server
import json
import os
import ssl
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
import ipaddress


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def tls_material(d):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "caracal test idp ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(hours=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) + pem_private(key))


def signing_keys(d):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ec521 = ec.generate_private_key(ec.SECP521R1())
    for name, key in (("rsa", rsa_key), ("ec", ec_key), ("ec384", ec384), ("ec521", ec521)):
        with open(os.path.join(d, name + ".pem"), "wb") as f:
            f.write(pem_private(key))
    keys = []
    for kid, key, alg in (("rsa-1", rsa_key, "RS256"), ("ec-1", ec_key, "ES256"),
                          ("ec384-1", ec384, "ES384"), ("ec521-1", ec521, "ES512")):
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig"})
        keys.append(jwk)
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump({"keys": keys}, f)


def serve(d):
    tls_material(d)
    signing_keys(d)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/jwks":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(os.path.join(d, "jwks.json"), "rb") as f:
                body = f.read()
            counter = os.path.join(d, "fetches")
            n = int(open(counter).read()) if os.path.exists(counter) else 0
            with open(counter, "w") as f:
                f.write(str(n + 1))
            time.sleep(0.3)  # a slow issuer: concurrent exchanges overlap the fetch
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(os.path.join(d, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
    srv.serve_forever()


def sign(d, alg, kid, claims):
    claims = json.loads(claims)
    headers = {"kid": kid} if kid else {}
    if alg.startswith("RS") or alg.startswith("PS"):
        key = open(os.path.join(d, "rsa.pem"), "rb").read()
    elif alg in ("ES256", "ES384", "ES512"):
        name = {"ES256": "ec", "ES384": "ec384", "ES512": "ec521"}[alg]
        key = open(os.path.join(d, name + ".pem"), "rb").read()
    elif alg == "HS256":
        key = "a-shared-secret-anyone-could-know"
    else:
        key = None
    print(jwt.encode(claims, key, algorithm=alg, headers=headers))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "sign":
        sign(*sys.argv[2:6])
    else:
        sys.exit("usage: idp.py serve DIR | sign DIR ALG KID CLAIMS_JSON")
