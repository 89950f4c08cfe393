#!/usr/bin/env python3
"""An upstream SAML identity provider built on pysaml2 (which signs and encrypts with the
xmlsec1 binary): it produces genuinely signed Responses for fedbroker's service-provider side,
with the knobs a test needs (who, which groups, signed where, SHA-1, encrypted, answering which
request, and a clock shifted into the past or future).

  saml_idp.py metadata --entity E --cert C --sso URL [--slo URL]      (IdP metadata on stdout)
  saml_idp.py respond --entity E --key K --cert C --sp-metadata FILE --sp ENTITY --acs URL
      --name-id NAME [--attr NAME=VALUE ...] [--in-response-to ID] [--no-sign-assertion]
      [--sign-response] [--encrypt] [--sha1] [--shift SECONDS]       (base64 SAMLResponse on stdout)
"""
import argparse
import warnings
import base64
import datetime
import functools
import sys
import time

warnings.simplefilter("ignore")

import saml2.entity
import saml2.sigver
import saml2.time_util
from saml2 import BINDING_HTTP_REDIRECT, saml
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

# pysaml2 encrypts with Triple DES unless told otherwise; real IdPs use AES.
saml2.entity.pre_encryption_part = functools.partial(
    saml2.sigver.pre_encryption_part, msg_enc="http://www.w3.org/2009/xmlenc11#aes256-gcm"
)
_encrypt = saml2.sigver.CryptoBackendXmlSec1.encrypt_assertion
saml2.sigver.CryptoBackendXmlSec1.encrypt_assertion = (
    lambda self, statement, enc_key, template, key_type="aes-256", node_xpath=None: _encrypt(
        self, statement, enc_key, template, "aes-256", node_xpath
    )
)


def shift_clock(seconds):
    """Moves pysaml2's clock (time.gmtime and time.time) by `seconds`."""
    real_gmtime, real_time = time.gmtime, time.time
    time.time = lambda: real_time() + seconds
    time.gmtime = lambda t=None: real_gmtime(real_time() + seconds if t is None else t)

    class Shifted(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.now(tz) + datetime.timedelta(seconds=seconds)

    saml2.time_util.datetime = Shifted


def metadata(args):
    cert = "".join(l for l in open(args.cert).read().splitlines() if "CERTIFICATE" not in l)
    slo = (
        f'<md:SingleLogoutService Binding="{BINDING_HTTP_REDIRECT}" Location="{args.slo}"/>'
        if args.slo
        else ""
    )
    print(
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{args.entity}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}'
        f"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>{slo}"
        f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}" Location="{args.sso}"/>'
        f"</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def respond(args):
    if args.shift:
        shift_clock(args.shift)
    conf = {
        "entityid": args.entity,
        "key_file": args.key,
        "cert_file": args.cert,
        "encryption_keypairs": [{"key_file": args.key, "cert_file": args.cert}],
        "metadata": {"local": [args.sp_metadata]},
        "service": {
            "idp": {
                "endpoints": {"single_sign_on_service": [(args.entity + "/sso", BINDING_HTTP_REDIRECT)]},
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 5},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_BASIC,
                    }
                },
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            }
        },
        "xmlsec_binary": "/usr/bin/xmlsec1",
    }
    config = IdPConfig()
    config.load(conf)
    idp = Server(config=config)
    identity = {}
    for pair in args.attr or []:
        name, _, value = pair.partition("=")
        identity.setdefault(name, []).append(value)
    sign_alg = saml2.xmldsig.SIG_RSA_SHA1 if args.sha1 else saml2.xmldsig.SIG_RSA_SHA256
    digest_alg = saml2.xmldsig.DIGEST_SHA1 if args.sha1 else saml2.xmldsig.DIGEST_SHA256
    response = idp.create_authn_response(
        identity=identity,
        in_response_to=args.in_response_to,
        destination=args.acs,
        sp_entity_id=args.sp,
        name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=args.name_id),
        authn={"class_ref": saml.AUTHN_PASSWORD, "authn_auth": args.entity},
        sign_response=args.sign_response,
        sign_assertion=not args.no_sign_assertion,
        encrypt_assertion=args.encrypt,
        encrypt_assertion_self_contained=True,
        sign_alg=sign_alg,
        digest_alg=digest_alg,
    )
    sys.stdout.write(base64.b64encode(str(response).encode()).decode())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("metadata")
    m.add_argument("--entity", required=True)
    m.add_argument("--cert", required=True)
    m.add_argument("--sso", required=True)
    m.add_argument("--slo")
    r = sub.add_parser("respond")
    for a in ("--entity", "--key", "--cert", "--sp-metadata", "--sp", "--acs", "--name-id"):
        r.add_argument(a, required=True)
    r.add_argument("--attr", action="append")
    r.add_argument("--in-response-to")
    r.add_argument("--no-sign-assertion", action="store_true")
    r.add_argument("--sign-response", action="store_true")
    r.add_argument("--encrypt", action="store_true")
    r.add_argument("--sha1", action="store_true")
    r.add_argument("--shift", type=int, default=0)
    args = p.parse_args()
    {"metadata": metadata, "respond": respond}[args.cmd](args)


if __name__ == "__main__":
    main()
