"""`python -m infra config` writes `.chalice/`; `python -m infra package STAGE [OUT]` writes
the stage's Terraform; `python -m infra validate STAGE [OUT]` runs terraform init + validate;
`python -m infra bootstrap [OUT]` writes the one-time account setup (state bucket)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from chalicelib.resources import STAGES, for_stage
from infra import backend, chalice_config, monitoring, terraform

ROOT = Path(__file__).resolve().parent.parent


def package(stage: str, out: Path, with_backend: bool = True) -> Path:
    """Chalice's Terraform for `stage` plus ours in `out`; `with_backend=False` leaves the
    remote state out (a throwaway apply, e.g. on the emulator)."""
    chalice_config.write()
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-central-1"), "STAGE": stage}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "chalice"),
            "package",
            "--stage",
            stage,
            "--pkg-format",
            "terraform",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    chalice_path = out / "chalice.tf.json"
    chalice_tf = terraform.drop_null_provider(json.loads(chalice_path.read_text()))
    chalice_path.write_text(terraform.dumps(chalice_tf))
    resources = for_stage(stage)
    declared = terraform.resources_tf(resources)
    for kind, blocks in terraform.api_stage_tf(resources).items():
        declared["resource"].setdefault(kind, {}).update(blocks)
    (out / "resources.tf.json").write_text(terraform.dumps(declared))
    (out / "chalice_override.tf.json").write_text(terraform.dumps(terraform.override_tf(chalice_tf, resources)))
    (out / "monitoring.tf.json").write_text(terraform.dumps(monitoring.monitoring_tf(resources)))
    (out / "versions.tf").write_text(terraform.versions_tf())
    if with_backend:
        (out / "backend.tf").write_text(backend.backend_tf(resources))
    else:
        (out / "backend.tf").unlink(missing_ok=True)
    return out


def bootstrap(out: Path) -> Path:
    """The one-time account setup (state bucket, API Gateway's logging role), local state."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bootstrap.tf.json").write_text(terraform.dumps(backend.bootstrap_tf()))
    (out / "versions.tf").write_text(terraform.versions_tf())
    return out


def validate(out: Path) -> None:
    env = {**os.environ, "TF_IN_AUTOMATION": "1"}
    mirror = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
    if mirror.is_dir():  # offline: install providers from the local mirror only
        env["TF_CLI_CONFIG_FILE"] = str(offline_cli_config(out, mirror))
    for command in (
        ["terraform", "init", "-backend=false", "-input=false", "-no-color"],
        ["terraform", "validate", "-no-color"],
    ):
        subprocess.run(command, cwd=out, env=env, check=True)


def offline_cli_config(out: Path, mirror: Path) -> Path:
    """A Terraform CLI config that installs providers from a filesystem mirror."""
    path = out / ".terraformrc"
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("config", help="write .chalice/config.json and IAM policies")
    commands.add_parser("bootstrap", help="Terraform for the one-time account setup").add_argument(
        "out", nargs="?", type=Path
    )
    for name in ("package", "validate"):
        sub = commands.add_parser(name)
        sub.add_argument("stage", choices=[s for s in STAGES if s != "local"])
        sub.add_argument("out", nargs="?", type=Path)
    args = parser.parse_args()
    if args.command == "config":
        for path in chalice_config.write():
            print(f"wrote {path.relative_to(ROOT)}")
        return
    if args.command == "bootstrap":
        out = bootstrap((args.out or ROOT / "build" / "terraform" / "bootstrap").resolve())
        print(f"wrote the account bootstrap to {out}")
        return
    out = (args.out or ROOT / "build" / "terraform" / args.stage).resolve()
    package(args.stage, out)
    print(f"wrote Terraform for {args.stage} to {out}")
    if args.command == "validate":
        validate(out)


if __name__ == "__main__":
    main()
