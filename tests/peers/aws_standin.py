"""A STAND-IN, not an emulator: a loopback HTTP server that answers in the exact wire formats of
the two AWS behaviours no emulator here has. Every request is appended to a JSON Lines record
(the SAMLAssertion included, for tests to verify it independently).

  POST /  (STS Query API, Action=AssumeRoleWithSAML)
      DurationSeconds above --max-duration -> HTTP 400 with STS's XML error body
      ("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
      otherwise HTTP 200 with an AssumeRoleWithSAMLResponse carrying credentials.
      With --refuse-policy CODE, a request carrying a session policy (Policy or PolicyArns) is
      answered HTTP 400 with that STS error code (MalformedPolicyDocument, PackedPolicyTooLarge):
      moto accepts any policy, and these refusals are what STS answers.
  GET /federation?Action=getSigninToken&SessionDuration=..&Session=<JSON>
      -> {"SigninToken": "..."} (HTTP 400 when Session lacks sessionId/sessionKey/sessionToken).
  GET /federation?Action=login&SigninToken=..&Destination=..
      -> a small HTML page standing for the console ("standin console"), for browsers.

Usage: aws_standin.py --port N --record FILE [--max-duration SECS] [--refuse-policy CODE]
"""
import argparse
import datetime
import html
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERROR = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>ValidationError</Code>
    <Message>The requested DurationSeconds exceeds the MaxSessionDuration set for this role.</Message>
  </Error>
  <RequestId>4d3b1c8e-0000-4000-8000-standin00001</RequestId>
</ErrorResponse>"""

OK = """<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithSAMLResult>
    <Issuer>{issuer}</Issuer>
    <AssumedRoleUser>
      <Arn>{assumed}</Arn>
      <AssumedRoleId>AROASTANDIN00000001:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIASTANDIN000000001</AccessKeyId>
      <SecretAccessKey>standinSecretKey0000000000000000000000000</SecretAccessKey>
      <SessionToken>standinSessionToken000000000000000000000000000000</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <Audience>https://signin.aws.amazon.com/saml</Audience>
    <SubjectType>persistent</SubjectType>
    <PackedPolicySize>6</PackedPolicySize>
    <NameQualifier>standin</NameQualifier>
    <Subject>{session}</Subject>
  </AssumeRoleWithSAMLResult>
  <ResponseMetadata><RequestId>4d3b1c8e-0000-4000-8000-standin00002</RequestId></ResponseMetadata>
</AssumeRoleWithSAMLResponse>"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--max-duration", type=int, default=43200)
    p.add_argument("--refuse-policy", default="")
    args = p.parse_args()

    def record(entry):
        with open(args.record, "a") as f:
            f.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body, content_type):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            field = lambda k: form.get(k, [""])[0]
            duration = int(field("DurationSeconds") or 3600)
            record({"kind": "sts", "action": field("Action"), "role": field("RoleArn"),
                    "principal": field("PrincipalArn"), "duration": duration,
                    "has_assertion": bool(field("SAMLAssertion")),
                    "policy": field("Policy"),
                    "policy_arns": [form[k][0] for k in sorted(form) if k.startswith("PolicyArns.member.")],
                    # Kept whole so that tests can hand it to an independent verifier.
                    "assertion": field("SAMLAssertion")})
            has_policy = field("Policy") or any(k.startswith("PolicyArns.member.") for k in form)
            if args.refuse_policy and has_policy:
                messages = {
                    "MalformedPolicyDocument": "Syntax errors in policy.",
                    "PackedPolicyTooLarge": "Packed policy consumes 131% of allotted space, please use smaller policy.",
                }
                self.answer(400, ERROR.replace("ValidationError", args.refuse_policy).replace(
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                    messages.get(args.refuse_policy, "Refused.")), "text/xml")
                return
            if duration > args.max_duration:
                self.answer(400, ERROR, "text/xml")
                return
            role = field("RoleArn")
            account = role.split(":")[4] if role.count(":") >= 5 else "000000000000"
            name = role.rsplit("/", 1)[-1]
            expiration = (datetime.datetime.now(datetime.timezone.utc)
                          + datetime.timedelta(seconds=duration)).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.answer(200, OK.format(issuer="standin", session="standin-user", expiration=expiration,
                                       assumed=f"arn:aws:sts::{account}:assumed-role/{name}/standin-user"),
                        "text/xml")

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(url.query)
            field = lambda k: q.get(k, [None])[0]
            if field("Action") == "login":
                record({"kind": "federation", "path": url.path, "action": "login",
                        "destination": field("Destination"), "has_token": bool(field("SigninToken"))})
                self.answer(200, "<!doctype html><title>standin console</title><p id=result>standin console: "
                            + html.escape(field("Destination") or "") + "</p>", "text/html")
                return
            session = json.loads(field("Session") or "{}")
            record({"kind": "federation", "path": url.path, "action": field("Action"),
                    "session_duration": field("SessionDuration"),
                    "session_fields": sorted(session.keys())})
            if field("Action") != "getSigninToken" or sorted(session.keys()) != ["sessionId", "sessionKey", "sessionToken"]:
                self.answer(400, "bad request", "text/plain")
                return
            self.answer(200, json.dumps({"SigninToken": "standin-signin-token-" + "x" * 40}), "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
