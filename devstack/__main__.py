"""The local runtime's commands.

python -m devstack up [--samples DIR]   start everything; Ctrl-C stops it
python -m devstack fire NAME             run a scheduled function now
python -m devstack token create NAME [--role ROLE] [--expires-in-days N]
                                         create an API token on the local stack (printed once)
python -m devstack hook PLATFORM         play google-ads, meta or eventbrite's webhook at the API
python -m devstack status                pollers, schedules and functions
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import requests

from chalicelib.auth.roles import ROLES
from devstack.emulator import PortInUse
from devstack.stack import FAKE_CREDENTIALS, REGION, DevStack

DEFAULT_EMULATOR = "http://127.0.0.1:4566"
LOCAL_TOKEN_DAYS = 30


def up(args: argparse.Namespace) -> int:
    # the functions' JSON lines are for CloudWatch; on the console they would bury the
    # progress: warnings and errors only, no metric lines, unless asked for
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    stack = DevStack(
        emulator_port=args.emulator_port,
        api_port=args.api_port,
        sap_port=args.sap_port,
        sap_capacity=args.sap_capacity or None,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stack.start()
    except PortInUse as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        print(f"AWS emulator  {stack.emulator.endpoint}")
        print(f"REST API      {stack.api_url}")
        print(f"Console       {stack.api_url}/console (sign in with the API token below)")
        print(f"SAP stand-in  {stack.sap.url} (what SAP holds: {stack.sap.url}/_standin/records)")
        token = stack_token(stack)
        if args.samples:
            from devstack.progress import run_platforms, run_samples

            run_samples(stack, Path(args.samples), stopped)
            run_platforms(stack, token, stopped)
        print(f"\nAPI token (admin 'local-admin', {LOCAL_TOKEN_DAYS} days): {token}\n")
        print("Try:")
        print(f"  curl -s {stack.api_url}/health")
        print(f"  curl -s -H 'Authorization: Bearer {token}' {stack.api_url}/queues")
        print(f"  curl -s -H 'Authorization: Bearer {token}' {stack.api_url}/stats")
        print(f"\nOperations console: {stack.api_url}/console (paste the token above to sign in)")
        print("\nServing until Ctrl-C.")
        stopped.wait()
    finally:
        print("\nstopping…")
        stack.stop()
    return 0


def stack_token(stack: DevStack) -> str:
    from chalicelib import wiring

    return wiring.token_store().create("local-admin", "admin", LOCAL_TOKEN_DAYS).token


def fire(args: argparse.Namespace) -> int:
    response = requests.post(f"{args.endpoint}/_devstack/fire/{args.name}", timeout=900)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.ok else 1


def status(args: argparse.Namespace) -> int:
    response = requests.post(f"{args.endpoint}/_devstack/status", timeout=30)
    print(json.dumps(response.json(), indent=2))
    return 0 if response.ok else 1


def token(args: argparse.Namespace) -> int:
    # the stack serves DynamoDB from a process of its own: it names the endpoints
    endpoints = requests.post(f"{args.endpoint}/_devstack/endpoints", timeout=30)
    endpoints.raise_for_status()
    os.environ.update({**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, **endpoints.json(), "STAGE": "local"})
    from chalicelib import wiring

    print(wiring.token_store().create(args.name, args.role, args.expires_in_days).token)
    return 0


def hook(args: argparse.Namespace) -> int:
    from devstack.play_hook import play

    response = play(args.platform, args.api.rstrip("/"), args.endpoint, bad_signature=args.bad_signature)
    print(response.text[:500])
    print(response.status_code)
    return 0 if response.ok else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start the local stack")
    start.add_argument("--emulator-port", type=int, default=4566)
    start.add_argument("--api-port", type=int, default=8000)
    start.add_argument("--samples", help="upload the sample files under DIR and follow them")
    start.add_argument("--sap-port", type=int, default=0, help="the SAP stand-in's port (default: a free one)")
    start.add_argument(
        "--sap-capacity",
        type=float,
        default=50.0,
        help="requests/s the SAP stand-in takes before answering 429 (0: unlimited)",
    )
    start.set_defaults(run=up)
    for name, run, help_text in (
        ("fire", fire, "run a scheduled function now"),
        ("status", status, "show pollers, schedules and functions"),
    ):
        sub = commands.add_parser(name, help=help_text)
        if name == "fire":
            sub.add_argument("name")
        sub.add_argument("--endpoint", default=DEFAULT_EMULATOR)
        sub.set_defaults(run=run)
    tokens = commands.add_parser("token", help="manage API tokens")
    tokens.add_argument("action", choices=["create"])
    tokens.add_argument("name")
    tokens.add_argument("--role", default="operator", choices=list(ROLES))
    tokens.add_argument("--expires-in-days", type=int, default=LOCAL_TOKEN_DAYS)
    tokens.add_argument("--endpoint", default=DEFAULT_EMULATOR)
    tokens.set_defaults(run=token)
    hooks = commands.add_parser("hook", help="play a platform's webhook at the running local API")
    hooks.add_argument("platform", choices=["google-ads", "meta", "eventbrite"])
    hooks.add_argument("--bad-signature", action="store_true", help="sign or key it wrongly (expect 401/403)")
    hooks.add_argument("--api", default="http://127.0.0.1:8000", help="the local REST API")
    hooks.add_argument("--endpoint", default=DEFAULT_EMULATOR, help="the local AWS emulator (for the secrets)")
    hooks.set_defaults(run=hook)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
