"""Check what ``sam build`` produced: one artifact per function, fit for Lambda's python3.13 on arm64.

    python tools/check_build.py BUILD_DIR

``BUILD_DIR`` is ``sam build``'s output (``.aws-sam/build``, or ``--build-dir``); ``make build-check`` builds
into a scratch directory and runs this on it. For every ``AWS::Serverless::Function`` of the built template:

- its ``CodeUri`` is a folder of the build holding ``app.py`` and the ``threatfeed`` package;
- it ships neither boto3 nor botocore (the runtime's are used: a second copy would only shadow them);
- every native module (``*.so``) is an ELF for aarch64, built for CPython 3.13 (or the stable ABI), matching
  the function's ``Architectures`` and ``Runtime`` (the C libraries a wheel bundles in ``<package>.libs/``
  are checked for the architecture only: they are not Python modules);
- it stays under Lambda's 250 MB unzipped limit.

(``build.mk`` has already imported each artifact's ``app`` on its own while building.) Exit status: 0 fine,
1 problems found, 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

#: ELF e_machine values (little endian, at offset 18) by Lambda architecture.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}
#: Lambda's limit for a function's unzipped deployment package.
MAX_UNZIPPED = 250 * 1024 * 1024
#: Provided by the Lambda runtime: an artifact must not bring its own.
RUNTIME_PACKAGES = ("boto3", "botocore")


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of a 64-bit little-endian shared object, None if it is not one."""
    header = path.read_bytes()[:20]
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    return int.from_bytes(header[18:20], "little")


def check_function(
    build_dir: Path, logical_id: str, props: dict[str, Any], globals_: dict[str, Any]
) -> tuple[list[str], str]:
    problems: list[str] = []
    runtime = props.get("Runtime", globals_.get("Runtime", ""))
    architectures = props.get("Architectures", globals_.get("Architectures", ["x86_64"]))
    code_uri = props.get("CodeUri")
    if not isinstance(code_uri, str):
        return [f"{logical_id}: CodeUri {code_uri!r} is not a folder of the build"], ""
    artifact = (build_dir / code_uri).resolve()
    if not artifact.is_dir():
        return [f"{logical_id}: artifact {artifact} does not exist"], ""
    for needed in ("app.py", "threatfeed/__init__.py"):
        if not (artifact / needed).is_file():
            problems.append(f"{logical_id}: the artifact has no {needed}")
    for package in RUNTIME_PACKAGES:
        if (artifact / package).exists():
            problems.append(f"{logical_id}: ships its own {package} (the Lambda runtime provides it)")
    version = runtime.removeprefix("python").replace(".", "")
    machine = ELF_MACHINE.get(architectures[0]) if len(architectures) == 1 else None
    natives = sorted(artifact.rglob("*.so"))
    for library in natives:
        where = library.relative_to(artifact)
        if elf_machine(library) != machine:
            problems.append(f"{logical_id}: {where} is not built for {architectures}")
        vendored = library.parent.name.endswith(".libs")  # auditwheel's bundled C libraries: no CPython ABI
        if not vendored and f"cpython-{version}" not in library.name and ".abi3." not in library.name:
            problems.append(f"{logical_id}: {where} is not built for {runtime}")
    size = sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())
    if size > MAX_UNZIPPED:
        problems.append(f"{logical_id}: {size / 2**20:.0f} MB unzipped, over Lambda's 250 MB")
    return problems, f"{logical_id}: {runtime} {'/'.join(architectures)}, {size / 2**20:.1f} MB, {len(natives)} native"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    from embedded_aws.stack import load_template

    build_dir = Path(args[0]).resolve()
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        print(f"check_build: {template_path} does not exist: run sam build first", file=sys.stderr)
        return 2
    template = load_template(template_path)
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    functions = {
        k: r.get("Properties") or {}
        for k, r in (template.get("Resources") or {}).items()
        if r.get("Type") == "AWS::Serverless::Function"
    }
    problems = [] if functions else ["the built template has no AWS::Serverless::Function"]
    for logical_id, props in sorted(functions.items()):
        found, summary = check_function(build_dir, logical_id, props, globals_)
        problems += found
        if summary:
            print(f"check_build: {summary}")
    for problem in problems:
        print(f"check_build: error: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
