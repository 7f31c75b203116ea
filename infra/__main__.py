"""`python -m infra config` writes `.chalice/`; `python -m infra package STAGE [OUT]` writes
the stage's Terraform; `python -m infra validate STAGE [OUT]` runs terraform init + validate;
`python -m infra bootstrap [OUT]` writes the one-time account setup (state bucket);
`python -m infra lint` runs checkov on all of it;
`python -m infra cost STAGE` prints the stage's monthly AWS cost per feature (`infra/cost.py`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.resources import STAGES, Resources, for_stage
from infra import accepted_checks, backend, chalice_config, cost, hcl, monitoring, terraform

ROOT = Path(__file__).resolve().parent.parent


def package(stage: str, out: Path, with_backend: bool = True) -> Path:
    """Chalice's Terraform for `stage` plus ours in `out`; `with_backend=False` leaves the
    remote state out (a throwaway apply, e.g. on the emulator)."""
    chalice_config.write()
    if out.is_dir():  # what an earlier package wrote, in any layout
        for stale in (*out.glob("*.tf"), *out.glob("*.tf.json")):
            stale.unlink()
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
    chalice_path.unlink()  # written again below, natively, with our fixes applied
    for name, document in documents(for_stage(stage), chalice_tf).items():
        (out / name).write_text(hcl.render(document, accepted_checks.skips))
    (out / "versions.tf").write_text(terraform.versions_tf())
    if with_backend:
        (out / "backend.tf").write_text(backend.backend_tf(for_stage(stage)))
    else:
        (out / "backend.tf").unlink(missing_ok=True)
    return out


def documents(resources: Resources, chalice_tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stage's configuration files (Terraform's JSON shape) by file name: Chalice's own
    with our fixes applied as an override file would, the declared resources, monitoring."""
    declared = terraform.resources_tf(resources)
    for kind, blocks in terraform.api_stage_tf(resources).items():
        declared["resource"].setdefault(kind, {}).update(blocks)
    return {
        "chalice.tf": hcl.merge_override(chalice_tf, terraform.override_tf(chalice_tf, resources)),
        "resources.tf": declared,
        "monitoring.tf": monitoring.monitoring_tf(resources),
    }


def bootstrap(out: Path) -> Path:
    """The one-time account setup (state bucket, API Gateway's logging role), local state."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bootstrap.tf").write_text(hcl.render(backend.bootstrap_tf(), accepted_checks.skips))
    (out / "versions.tf").write_text(terraform.versions_tf())
    return out


def lint(checkov: Path, out: Path) -> int:
    """Generate every stage and the bootstrap into `out` and run checkov on them, offline.

    Returns checkov's exit code: 0 only with no failed check and no parsing error (the
    accepted exceptions are inline skips, `infra/accepted_checks.py`)."""
    directories = [package(stage, out / stage) for stage in chalice_config.DEPLOYED_STAGES]
    directories.append(bootstrap(out / "bootstrap"))
    command = [str(checkov), "--framework", "terraform", "--skip-download", "--compact", "--quiet"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no guideline download
    failed = 0
    for directory in directories:  # one run each: a report per configuration
        print(f"checkov: {directory.relative_to(out)}", flush=True)
        failed |= subprocess.run([*command, "--directory", str(directory)], env=env, check=False).returncode
    return failed


def deploy_local(stage: str, out: Path) -> int:
    """Apply, check and destroy `stage` on a fresh emulator; 0 when every check held."""
    from devstack.emulator_process import EmulatorProcess
    from infra.deploy_local import deploy, summary

    out.mkdir(parents=True, exist_ok=True)
    mirror = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
    emulator = EmulatorProcess()
    emulator.start()
    try:
        report = deploy(
            stage, out, emulator.endpoint, package, offline_cli_config(out, mirror) if mirror.is_dir() else None
        )
    finally:
        emulator.stop()
    for line in summary(report):
        print(line)
    return 1 if report.problems else 0


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
    checkov = commands.add_parser("lint", help="checkov on every stage's generated Terraform (offline)")
    checkov.add_argument("--checkov", type=Path, default=ROOT / ".venv-checkov" / "bin" / "checkov")
    checkov.add_argument("out", nargs="?", type=Path)
    local = commands.add_parser("deploy-local", help="apply, check and destroy a stage on the local emulator")
    local.add_argument("stage", nargs="?", default="prod", choices=[s for s in STAGES if s != "local"])
    local.add_argument("out", nargs="?", type=Path)
    for name in ("package", "validate"):
        sub = commands.add_parser(name)
        sub.add_argument("stage", choices=[s for s in STAGES if s != "local"])
        sub.add_argument("out", nargs="?", type=Path)
    cost.add_command(commands)
    args = parser.parse_args()
    if args.command == "cost":
        cost.run(args)
        return
    if args.command == "config":
        for path in chalice_config.write():
            print(f"wrote {path.relative_to(ROOT)}")
        return
    if args.command == "lint":
        sys.exit(lint(args.checkov, (args.out or ROOT / "build" / "terraform").resolve()))
    if args.command == "deploy-local":
        sys.exit(deploy_local(args.stage, (args.out or ROOT / "build" / "deploy-local" / args.stage).resolve()))
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
