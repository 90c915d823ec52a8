"""tools/check_build.py's SDK rule: a function that calls GuardDuty's list operations ships an SDK that has them.

The Lambda runtime's botocore is of no fixed version ("depends on the runtime version and your AWS Region");
``CreateThreatEntitySet`` and the other entity-set operations are absent from botocore 1.40.6 and present from
1.40.10. These tests build fake artifacts (no pip, no network) and run the check on them.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import botocore
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What threatfeed calls on GuardDuty's lists (threatfeed.guardduty.SET_APIS), as API operation names.
ENTITY_SET_OPERATIONS = {
    f"{verb}{kind}{'s' if verb == 'List' else ''}"
    for verb in ("Create", "Get", "Update", "List")
    for kind in ("ThreatEntitySet", "TrustedEntitySet")
}
INTEL_SET_OPERATIONS = {"CreateThreatIntelSet", "GetThreatIntelSet", "UpdateThreatIntelSet", "ListThreatIntelSets"}

PUBLISH_APP = b'from threatfeed.aws import client\n\n\ndef handler(event, context):\n    client("guardduty", "x")\n'


@pytest.fixture(scope="module")
def tool() -> Any:
    spec = importlib.util.spec_from_file_location("check_build", ROOT / "tools" / "check_build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def real_guardduty_model() -> Path:
    """The build venv's own GuardDuty model (the newest API version botocore has), gzipped or not."""
    folder = Path(botocore.__file__).parent / "data" / "guardduty"
    newest = max(p for p in folder.iterdir() if p.is_dir())
    return next(newest / name for name in ("service-2.json.gz", "service-2.json") if (newest / name).is_file())


def model_json(operations: set[str]) -> bytes:
    return json.dumps({"metadata": {"apiVersion": "2017-11-28"}, "operations": {o: {} for o in operations}}).encode()


def build(tmp_path: Path, files: dict[str, bytes], app: bytes = PUBLISH_APP) -> Path:
    """A build folder with one function, PublishFunction, whose artifact holds ``files``."""
    (tmp_path / "template.yaml").write_text(
        "Globals: {Function: {Runtime: python3.13, Architectures: [arm64]}}\n"
        "Resources: {PublishFunction: {Type: AWS::Serverless::Function, Properties: {CodeUri: PublishFunction}}}\n",
        encoding="utf-8",
    )
    artifact = tmp_path / "PublishFunction"
    for name, content in {"app.py": app, "threatfeed/__init__.py": b"", **files}.items():
        (artifact / name).parent.mkdir(parents=True, exist_ok=True)
        (artifact / name).write_bytes(content)
    return tmp_path


def sdk(version: str, models: dict[str, bytes]) -> dict[str, bytes]:
    """boto3 + botocore ``version`` whose GuardDuty models are ``models`` (file under data/guardduty/ -> bytes)."""
    files = {"boto3/__init__.py": b"", "botocore/__init__.py": f"__version__ = '{version}'\n".encode()}
    return files | {f"botocore/data/guardduty/{name}": content for name, content in models.items()}


def run(tool: Any, build_dir: Path, capsys: Any) -> tuple[int, str]:
    code = tool.main([str(build_dir)])
    return code, capsys.readouterr().out


def test_an_sdk_without_the_entity_set_operations_fails_naming_them(tool: Any, tmp_path: Path, capsys: Any) -> None:
    old = sdk("1.40.6", {"2017-11-28/service-2.json": model_json(INTEL_SET_OPERATIONS | {"ListDetectors"})})
    code, out = run(tool, build(tmp_path, old), capsys)
    assert code == 1, out
    assert "PublishFunction: the botocore it ships (1.40.6, GuardDuty API 2017-11-28) has no" in out
    for operation in ENTITY_SET_OPERATIONS:
        assert operation in out
    assert not any(operation in out for operation in INTEL_SET_OPERATIONS)
    assert "functions/requirements.txt" in out


def test_an_sdk_with_every_operation_passes(tool: Any, tmp_path: Path, capsys: Any) -> None:
    model = real_guardduty_model()
    code, out = run(tool, build(tmp_path, sdk("1.43.127", {f"2017-11-28/{model.name}": model.read_bytes()})), capsys)
    assert code == 0, out
    assert "PublishFunction: python3.13 arm64" in out and "SDK: shipped, botocore 1.43.127" in out


def test_the_newest_api_version_is_the_model_botocore_loads(tool: Any, tmp_path: Path, capsys: Any) -> None:
    everything = gzip.compress(model_json(INTEL_SET_OPERATIONS | ENTITY_SET_OPERATIONS))
    lacking = model_json((INTEL_SET_OPERATIONS | ENTITY_SET_OPERATIONS) - {"UpdateTrustedEntitySet"})
    models = {"2017-11-28/service-2.json.gz": everything, "2099-01-01/service-2.json": lacking}
    code, out = run(tool, build(tmp_path, sdk("9.9.9", models)), capsys)
    assert code == 1, out
    assert "(9.9.9, GuardDuty API 2099-01-01) has no UpdateTrustedEntitySet (" in out


def test_a_guardduty_caller_must_ship_the_sdk(tool: Any, tmp_path: Path, capsys: Any) -> None:
    # the client is made two imports away, relatively, inside a function: the scan follows all of them
    files = {
        "threatfeed/pipeline/__init__.py": b"",
        "threatfeed/pipeline/publish.py": b"from .. import lists\n",
        "threatfeed/lists.py": b"def gd(region):\n    from threatfeed.aws import client\n\n"
        b'    return client("guardduty", region)\n',
    }
    code, out = run(tool, build(tmp_path, files, app=b"from threatfeed.pipeline import publish\n"), capsys)
    assert code == 1, out
    assert "PublishFunction: makes a GuardDuty client (threatfeed/lists.py:4) but ships no boto3/botocore" in out
    assert "add $(SDK_PACKAGES) to DEPS_PublishFunction in build.mk" in out


@pytest.mark.parametrize(
    ("app", "files", "problem"),
    [
        (b"", {"boto3/__init__.py": b"", "botocore/__init__.py": b""}, "ships its own botocore but makes no GuardDuty"),
        (PUBLISH_APP, {"botocore/__init__.py": b""}, "ships botocore alone: ship boto3 and botocore together"),
        (PUBLISH_APP, sdk("1.43.127", {}), "the botocore it ships (1.43.127) has no GuardDuty model"),
    ],
)
def test_the_sdk_ships_whole_and_only_where_needed(
    tool: Any, tmp_path: Path, capsys: Any, app: bytes, files: dict[str, bytes], problem: str
) -> None:
    code, out = run(tool, build(tmp_path, files, app=app), capsys)
    assert code == 1, out
    assert problem in out


def test_the_operations_come_from_set_apis(tool: Any) -> None:
    """Every boto3 method of SET_APIS, named as the API operation, and all present in the dev venv's botocore."""
    required = set(tool.missing_operations([], tool.required_methods()))
    assert required >= ENTITY_SET_OPERATIONS | INTEL_SET_OPERATIONS
    model = real_guardduty_model()
    data = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
    assert tool.missing_operations(json.loads(data)["operations"], tool.required_methods()) == []


def test_build_mk_ships_the_sdk_exactly_to_the_functions_that_call_guardduty(tool: Any, tmp_path: Path) -> None:
    """The working tree's handlers, scanned as check_build scans an artifact, against build.mk's DEPS."""
    build_mk = (ROOT / "build.mk").read_text(encoding="utf-8")
    assert re.search(r"^SDK_PACKAGES := boto3$", build_mk, re.MULTILINE)
    callers = set()
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        artifact = tmp_path / app.parent.name
        artifact.mkdir()
        (artifact / "app.py").write_bytes(app.read_bytes())
        (artifact / "threatfeed").symlink_to(ROOT / "src" / "threatfeed")
        logical_id = f"{app.parent.name.capitalize()}Function"
        deps = re.search(rf"^DEPS_{logical_id} := (.*)$", build_mk, re.MULTILINE)
        assert deps, logical_id
        calls = tool.client_calls(artifact)
        assert bool(calls) == ("$(SDK_PACKAGES)" in deps.group(1).split()), (logical_id, calls)
        callers |= {logical_id} if calls else set()
    assert "PublishFunction" in callers


def test_the_shipped_sdk_is_pinned() -> None:
    lines = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = dict(line.split("==") for line in lines if line.strip() and not line.startswith("#"))
    for package in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"):
        assert package in pins, package
    botocore_pin = tuple(int(part) for part in pins["botocore"].split(".")[:3])
    assert botocore_pin >= (1, 40, 10), "threat and trusted entity sets need botocore 1.40.10"


# --------------------------------------------------------------------------- build.mk's import check


def import_check(artifact: Path, ships_sdk: bool) -> subprocess.CompletedProcess[str]:
    """build.mk's THREATFEED_IMPORT_CHECK on ``artifact``, run as the build-PublishFunction recipe runs it."""
    build_mk = (ROOT / "build.mk").read_text(encoding="utf-8")
    script = build_mk.split("\ndefine THREATFEED_IMPORT_CHECK\n", 1)[1].split("\nendef\n", 1)[0]
    assert "$" not in script, "make would expand it"
    runtime = re.search(r"^LAMBDA_RUNTIME_PACKAGES := (.*)$", build_mk, re.MULTILINE)
    assert runtime
    site = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "THREATFEED_CHECK_IMPORTS": "", "THREATFEED_SHIPS_SDK": "1" if ships_sdk else ""}
    argv = [str(artifact), site, "PublishFunction", *runtime.group(1).split()]
    return subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", script, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.fixture
def sdk_artifact(tmp_path: Path) -> Path:
    """An artifact with the handler's package and a copy of the build venv's boto3 and botocore."""
    artifact = tmp_path / "PublishFunction"
    artifact.mkdir()
    (artifact / "app.py").write_text("def handler(event, context):\n    return {}\n", encoding="utf-8")
    shutil.copytree(ROOT / "src" / "threatfeed", artifact / "threatfeed")
    for package in ("boto3", "botocore"):
        shutil.copytree(Path(importlib.import_module(package).__file__).parent, artifact / package)
    return artifact


def test_import_check_proves_the_sdk_is_the_artifacts_own(sdk_artifact: Path) -> None:
    ok = import_check(sdk_artifact, ships_sdk=True)
    assert ok.returncode == 0, ok.stderr
    assert f"botocore {botocore.__version__} import from it, with all" in ok.stdout
    shutil.rmtree(sdk_artifact / "botocore")  # now the runtime's botocore (behind the artifact) is found
    borrowed = import_check(sdk_artifact, ships_sdk=True)
    assert borrowed.returncode == 1
    assert "PublishFunction: botocore imports from" in borrowed.stderr and "not from the artifact" in borrowed.stderr


def test_import_check_names_the_operations_the_shipped_botocore_lacks(sdk_artifact: Path) -> None:
    model = next((sdk_artifact / "botocore" / "data" / "guardduty").glob("*/service-2.json*"))
    data = json.loads(gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes())
    for operation in ("CreateThreatEntitySet", "ListTrustedEntitySets"):
        del data["operations"][operation]
    content = json.dumps(data).encode()
    model.write_bytes(gzip.compress(content) if model.suffix == ".gz" else content)
    old = import_check(sdk_artifact, ships_sdk=True)
    assert old.returncode == 1, old.stdout
    assert "has no GuardDuty CreateThreatEntitySet, ListTrustedEntitySets (" in old.stderr
    assert "functions/requirements.txt" in old.stderr
    assert import_check(sdk_artifact, ships_sdk=False).returncode == 0  # without the SDK, nothing to prove
