#!/usr/bin/env python3
"""A SAML service provider configured like AWS sign-in, built on pysaml2 (which checks the
signature with the xmlsec1 binary, plus audience, destination, recipient, times and issuer
against the IdP metadata). It is the independent judge of the Responses fedbroker emits.

  saml_sp.py check --acs URL --metadata FILE [--want-response-signed]   (SAMLResponse on stdin)
      exit 0 and a JSON summary if accepted, exit 1 and the reason if not
  saml_sp.py serve --port P --acs URL --metadata FILE --record FILE
      an HTTP "regional sign-in endpoint": POST /saml checks and records each Response
      (one JSON line per POST in FILE); GET answers 200 so health probes see it up.
      The metadata file is read at each POST, so it may be written after the server starts.
"""
import argparse
import base64
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from saml2 import BINDING_HTTP_POST
from saml2.client import Saml2Client
from saml2.config import SPConfig


def client(acs, metadata, want_response_signed=False, entity_id="urn:amazon:webservices",
           decrypt=None):
    conf = {
        # AWS sign-in's audience: urn:amazon:webservices, or the partition's own
        # (urn:amazon:webservices:govcloud, urn:amazon:webservices:cn-north-1).
        "entityid": entity_id,
        "metadata": {"local": [metadata]},
        "service": {
            "sp": {
                "endpoints": {"assertion_consumer_service": [(acs, BINDING_HTTP_POST)]},
                "allow_unsolicited": True,
                "want_assertions_signed": True,
                "want_response_signed": want_response_signed,
                "authn_requests_signed": False,
                "allow_unknown_attributes": True,
            }
        },
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "accepted_time_diff": 5,
    }
    if decrypt:
        # The provider's own key pair: what AWS holds for an IAM SAML provider that takes
        # encrypted assertions.
        key_file, cert_file = decrypt
        conf["key_file"], conf["cert_file"] = key_file, cert_file
        conf["encryption_keypairs"] = [{"key_file": key_file, "cert_file": cert_file}]
    config = SPConfig()
    config.load(conf)
    return Saml2Client(config=config)


def check(saml_response_b64, acs, metadata, want_response_signed=False,
          entity_id="urn:amazon:webservices", decrypt=None):
    """Returns a summary dict; raises on any rejection."""
    if decrypt and b"EncryptedAssertion" not in base64.b64decode(saml_response_b64):
        raise ValueError("the assertion is not encrypted, and this provider requires it")
    sp = client(acs, metadata, want_response_signed, entity_id, decrypt)
    resp = sp.parse_authn_request_response(saml_response_b64, BINDING_HTTP_POST)
    if resp is None or resp.assertion is None:
        # pysaml2 refuses a Response for another endpoint by giving no assertion (and only
        # logging why); say why, so tests can assert the reason.
        destination = getattr(getattr(resp, "response", None), "destination", None)
        if destination and destination != acs:
            raise ValueError(f"Destination {destination} is not this endpoint ({acs})")
        raise ValueError("pysaml2 returned no assertion")
    assertion = resp.assertion
    confirmation = assertion.subject.subject_confirmation[0].subject_confirmation_data
    return {
        "issuer": resp.issuer(),
        "destination": resp.response.destination,
        "recipient": confirmation.recipient,
        "audience": [a.text for r in assertion.conditions.audience_restriction for a in r.audience],
        "name_id": resp.name_id.text,
        # The validity window as the verifier read it, for lifetime checks.
        "issue_instant": assertion.issue_instant,
        "not_before": assertion.conditions.not_before,
        "not_on_or_after": assertion.conditions.not_on_or_after,
        "confirmation_not_on_or_after": confirmation.not_on_or_after,
        # Straight from the verified assertion, keyed by the attribute Name AWS reads.
        "attributes": {
            a.name: [v.text for v in a.attribute_value]
            for statement in assertion.attribute_statement
            for a in statement.attribute
        },
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        # AWS publishes an encrypting provider's certificate next to its sign-in endpoint.
        if self.server.decrypt and self.path.endswith("/saml-metadata.xml"):
            if f"/static/saml/{self.server.idp_id}/" not in self.path:
                self.reply(404, "text/plain", "no such provider\n")
                return
            cert = "".join(l for l in open(self.server.decrypt[1]).read().splitlines() if "-----" not in l)
            self.reply(200, "application/xml",
                       '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
                       'entityID="urn:amazon:webservices"><md:SPSSODescriptor '
                       'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
                       '<md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
                       f'<ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data>'
                       '</ds:KeyInfo></md:KeyDescriptor></md:SPSSODescriptor></md:EntityDescriptor>')
            return
        self.reply(200, "text/plain", "AWS sign-in test endpoint\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        saml = form.get("SAMLResponse", [""])[0]
        relay = form.get("RelayState", [""])[0]
        record = {"acs": self.server.acs, "relay_state": relay}
        try:
            record.update(check(saml, self.server.acs, self.server.metadata,
                                entity_id=self.server.entity_id, decrypt=self.server.decrypt))
            record["ok"] = True
            status = 200
        except Exception as e:  # every rejection is recorded with its reason
            record.update({"ok": False, "error": f"{type(e).__name__}: {e}"})
            status = 400
        with open(self.server.record, "a") as f:
            f.write(json.dumps(record) + "\n")
        body = (
            "<!doctype html><title>AWS (test)</title><h1>Signed in to AWS (test endpoint)</h1>"
            f"<p id=result>{'accepted' if record['ok'] else 'rejected'}</p>"
            f"<p id=acs>{self.server.acs}</p><pre>{json.dumps(record, indent=2)}</pre>"
        )
        self.reply(status, "text/html", body)

    def reply(self, status, ctype, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["check", "serve"])
    p.add_argument("--acs", required=True)
    p.add_argument("--metadata", required=True)
    p.add_argument("--port", type=int)
    p.add_argument("--record")
    p.add_argument("--want-response-signed", action="store_true")
    p.add_argument("--entity-id", default="urn:amazon:webservices")
    p.add_argument("--decrypt-key")
    p.add_argument("--decrypt-cert")
    p.add_argument("--idp-id", default="")
    a = p.parse_args()
    if a.mode == "check":
        try:
            summary = check(sys.stdin.read().strip(), a.acs, a.metadata, a.want_response_signed,
                            a.entity_id)
        except Exception as e:
            print(f"rejected: {type(e).__name__}: {e}")
            sys.exit(1)
        print(json.dumps(summary))
        return
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.acs, server.metadata, server.record = a.acs, a.metadata, a.record
    server.entity_id = a.entity_id
    server.decrypt = (a.decrypt_key, a.decrypt_cert) if a.decrypt_key else None
    server.idp_id = a.idp_id
    print(f"listening on {a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
