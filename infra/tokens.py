"""Create the first API token of any stage: `python -m infra.tokens create NAME --role admin --stage prod`.

The stage's config table comes from `chalicelib/resources.py`; boto3 finds the account the
usual way (environment, profile, SSO, instance role), so this works before any token
exists. The token is printed once; later tokens are made with `POST /tokens`. Locally,
`python -m devstack token create` does the same against the emulator.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chalicelib.auth.roles import ADMIN, ROLES
from chalicelib.auth.tokens import MAX_EXPIRES_IN_DAYS, CreatedToken, TokenStore
from chalicelib.resources import STAGES, for_stage


def create_token(stage: str, name: str, role: str, expires_in_days: int, dynamodb: Any) -> CreatedToken:
    return TokenStore(for_stage(stage).table("config").name, dynamodb).create(name, role, expires_in_days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.tokens", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a token and print it once")
    create.add_argument("name")
    create.add_argument("--role", default=ADMIN, choices=list(ROLES))
    create.add_argument("--stage", required=True, choices=list(STAGES))
    create.add_argument("--expires-in-days", type=int, default=90, help=f"1 to {MAX_EXPIRES_IN_DAYS}")
    create.add_argument("--region", default=None, help="the stage's region (default: boto3's)")
    args = parser.parse_args(argv)
    import boto3

    created = create_token(
        args.stage, args.name, args.role, args.expires_in_days, boto3.client("dynamodb", region_name=args.region)
    )
    print(
        f"token {created.info.token_id} ({created.info.role}, expires {created.info.expires:%Y-%m-%d}):",
        file=sys.stderr,
    )
    print(created.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
