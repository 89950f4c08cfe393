"""Puts a downstream role's trust policy to moto_server's IAM and assumes the role from there.

moto does not evaluate trust policies when a role is assumed; what it does check is the
document itself, as IAM's UpdateAssumeRolePolicy does: the JSON grammar, the condition
operators, and that a trust policy's actions are STS actions. This script runs both steps and
prints one JSON line: {"accepted": bool, "error": str, "assumed_arn": str}.

Usage: chained_role.py --endpoint URL --role-arn ARN --policy FILE --session-name NAME
"""
import argparse
import json

import boto3
import botocore.exceptions


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--role-arn", required=True)
    p.add_argument("--policy", required=True)
    p.add_argument("--session-name", required=True)
    args = p.parse_args()
    kw = dict(endpoint_url=args.endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **kw)
    sts = boto3.client("sts", **kw)
    name = args.role_arn.rsplit("/", 1)[-1]
    placeholder = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=placeholder)
    out = {"accepted": False, "error": "", "assumed_arn": ""}
    try:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=open(args.policy).read())
        out["accepted"] = True
    except botocore.exceptions.ClientError as e:
        out["error"] = str(e)
        print(json.dumps(out))
        return
    stored = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    out["stored_conditions"] = stored["Statement"][0].get("Condition", {})
    role_arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=args.session_name)
    out["assumed_arn"] = creds["AssumedRoleUser"]["Arn"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
