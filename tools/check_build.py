"""Check what ``sam build`` produced: one artifact per function, fit for Lambda's python3.13 on arm64.

    python tools/check_build.py BUILD_DIR

``BUILD_DIR`` is ``sam build``'s output (``.aws-sam/build``, or ``--build-dir``); ``make build-check`` builds
into a scratch directory and runs this on it. For every ``AWS::Serverless::Function`` of the built template:

- its ``CodeUri`` is a folder of the build holding ``app.py`` and the ``threatfeed`` package;
- it ships the AWS SDK (boto3 and botocore) if and only if its code makes a GuardDuty client: the runtime's
  botocore is of no fixed version and may predate the list operations threatfeed calls. The code is
  ``app.py`` and every ``threatfeed`` module it imports, at any depth (also imports inside functions); the
  operations themselves are called through ``getattr`` (``threatfeed.guardduty.SET_APIS``), so a call like
  ``client("guardduty", ...)`` is what marks a function as calling them;
- the GuardDuty model of a shipped botocore (the newest ``botocore/data/guardduty/<version>/service-2.json``,
  plain or gzipped, as botocore's loader picks it) has the operation of every boto3 method in ``SET_APIS``
  (mapped with botocore's ``xform_name``, as a boto3 client maps them);
- every native module (``*.so``) is an ELF for aarch64, built for CPython 3.13 (or the stable ABI), matching
  the function's ``Architectures`` and ``Runtime`` (the C libraries a wheel bundles in ``<package>.libs/``
  are checked for the architecture only: they are not Python modules);
- it stays under Lambda's 250 MB unzipped limit.

(``build.mk`` has already imported each artifact's ``app`` on its own while building, and, for an artifact
that ships the SDK, checked that boto3 and botocore import from the artifact and that a GuardDuty client made
with them has every method of ``SET_APIS``.) Exit status: 0 fine, 1 problems found, 2 usage error.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

#: ELF e_machine values (little endian, at offset 18) by Lambda architecture.
ELF_MACHINE = {"arm64": 183, "x86_64": 62}
#: Lambda's limit for a function's unzipped deployment package.
MAX_UNZIPPED = 250 * 1024 * 1024
#: The AWS SDK: an artifact ships both (build.mk's SDK_PACKAGES) or neither (then the runtime's serve).
SDK_PACKAGES = ("boto3", "botocore")
#: The service whose list operations need a newer botocore than some python3.13 runtimes bundle.
SDK_SERVICE = "guardduty"
#: The SetApi fields naming the boto3 methods threatfeed calls on every kind of list.
SET_API_METHODS = ("create", "get", "list", "update")


def elf_machine(path: Path) -> int | None:
    """The ELF e_machine of a 64-bit little-endian shared object, None if it is not one."""
    header = path.read_bytes()[:20]
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    return int.from_bytes(header[18:20], "little")


def _module_file(artifact: Path, module: str) -> Path | None:
    base = artifact.joinpath(*module.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(node: ast.Import | ast.ImportFrom, package: str) -> Iterable[str]:
    """Every module an import statement may load, parents included (importing a.b.c runs a and a.b first)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = package.rsplit(".", node.level - 1)[0]
            base = f"{anchor}.{base}" if base else anchor
        names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
    for name in names:
        parts = name.split(".")
        yield from (".".join(parts[: i + 1]) for i in range(len(parts)))


def code_files(artifact: Path) -> list[Path]:
    """``app.py`` and every ``threatfeed`` module it imports, directly or not, wherever the import statement is."""
    files: list[Path] = []
    todo = [("app", artifact / "app.py")]
    while todo:
        name, path = todo.pop()
        if path in files or not path.is_file():
            continue
        files.append(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for module in _imported_modules(node, package):
                    found = _module_file(artifact, module) if module.partition(".")[0] == "threatfeed" else None
                    if found:
                        todo.append((module, found))
    return files


def client_calls(artifact: Path, service: str = SDK_SERVICE) -> list[str]:
    """Where the function's code makes a client for ``service`` (``client("guardduty", region)`` and alike)."""
    where = []
    for path in code_files(artifact):
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            if isinstance(node, ast.Call):
                arguments = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "service_name")]
                if any(isinstance(a, ast.Constant) and a.value == service for a in arguments):
                    where.append(f"{path.relative_to(artifact)}:{node.lineno}")
    return where


def service_model(artifact: Path, service: str = SDK_SERVICE) -> tuple[str, dict[str, Any]] | None:
    """(API version, model) of ``service`` in the artifact's botocore, chosen as botocore's loader does: the
    newest version folder holding a ``service-2.json`` (or ``.json.gz``). None when there is none."""
    folder = artifact / "botocore" / "data" / service
    found = {}
    for version in sorted(folder.iterdir()) if folder.is_dir() else []:
        for name in ("service-2.json", "service-2.json.gz"):
            if (version / name).is_file():
                found.setdefault(version.name, version / name)
    if not found:
        return None
    version = max(found)
    raw = found[version].read_bytes()
    return version, json.loads(gzip.decompress(raw) if found[version].suffix == ".gz" else raw)


def required_methods() -> list[str]:
    """The boto3 GuardDuty methods threatfeed calls on its lists (``threatfeed.guardduty.SET_APIS``)."""
    from threatfeed.guardduty import SET_APIS

    return [getattr(api, field) for api in SET_APIS.values() for field in SET_API_METHODS]


def operation_name(method: str) -> str:
    """The API operation a boto3 method name stands for, when the model has no such operation to map it to."""
    return "".join(word.capitalize() for word in method.split("_"))


def missing_operations(operations: Iterable[str], methods: Iterable[str]) -> list[str]:
    """The operations of ``methods`` that a model with ``operations`` lacks (boto3's own name mapping)."""
    from botocore import xform_name

    offered = {xform_name(operation) for operation in operations}
    return [operation_name(method) for method in methods if method not in offered]


def botocore_version(artifact: Path) -> str:
    init = artifact / "botocore" / "__init__.py"
    match = re.search(r"^__version__ = ['\"]([^'\"]+)", init.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else "unknown version"


def check_sdk(artifact: Path, logical_id: str) -> tuple[list[str], str]:
    """The SDK rule of the module docstring: (problems, what the function runs on)."""
    shipped = [package for package in SDK_PACKAGES if (artifact / package).exists()]
    calls = client_calls(artifact)
    if not shipped:
        if calls:
            return [
                f"{logical_id}: makes a GuardDuty client ({', '.join(calls)}) but ships no boto3/botocore: the "
                "runtime's SDK may predate the list operations it calls; add $(SDK_PACKAGES) to "
                f"DEPS_{logical_id} in build.mk"
            ], ""
        return [], "the runtime's"
    if not calls:
        return [
            f"{logical_id}: ships its own {package} but makes no GuardDuty client: the runtime's SDK serves it "
            f"(remove $(SDK_PACKAGES) from DEPS_{logical_id} in build.mk, or tell tools/check_build.py why it "
            "needs its own)"
            for package in shipped
        ], ""
    if len(shipped) < len(SDK_PACKAGES):
        return [f"{logical_id}: ships {shipped[0]} alone: ship boto3 and botocore together (build.mk SDK_PACKAGES)"], ""
    version = botocore_version(artifact)
    model = service_model(artifact)
    if model is None:
        return [f"{logical_id}: the botocore it ships ({version}) has no GuardDuty model (botocore/data/guardduty)"], ""
    api_version, data = model
    missing = missing_operations(data.get("operations", {}), required_methods())
    if missing:
        return [
            f"{logical_id}: the botocore it ships ({version}, GuardDuty API {api_version}) has no "
            f"{', '.join(missing)} (threatfeed.guardduty.SET_APIS calls them): pin boto3 and botocore releases "
            "that have them in functions/requirements.txt (threat and trusted entity sets need botocore >= 1.40.10)"
        ], ""
    return [], f"shipped, botocore {version}"


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
    sdk_problems, sdk = check_sdk(artifact, logical_id)
    problems += sdk_problems
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
    summary = f"{logical_id}: {runtime} {'/'.join(architectures)}, {size / 2**20:.1f} MB, {len(natives)} native"
    return problems, summary + (f", SDK: {sdk}" if sdk else "")


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
