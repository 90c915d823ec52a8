# sam build targets (build-<LogicalId>), see template.yaml
#
# How `sam build` gets here: every function in template.yaml has
#     Metadata: {BuildMethod: makefile, ContextPath: ., WorkingDirectory: .}
# so SAM's custom-make workflow runs, in the repository root,
#     make --makefile <repo>/Makefile build-<LogicalId>     (ARTIFACTS_DIR=<repo>/.aws-sam/build/<LogicalId>)
# and the root Makefile includes this file. (It also copies CodeUri to a scratch directory first; these
# recipes do not use that copy: every path below is anchored at this file's own directory.)
#
# One artifact = functions/<name>/ (app.py) + src/threatfeed + only the pip packages that function
# imports, cross-installed for the Lambda runtime (python3.13 on arm64, manylinux wheels only), so the
# build host's Python (3.11 here) and CPU do not matter and no Docker is needed.
# Afterwards the artifact's `app` module is imported with nothing but the artifact and, after it (as on
# Lambda, where /var/task comes first), the runtime's own AWS SDK on sys.path: a missing package fails the
# build here rather than at the first invocation. THREATFEED_SKIP_IMPORT_CHECK=1 skips that check.
#
# The AWS SDK: the python3.13 runtime bundles a boto3/botocore whose version "depends on the runtime version
# and your AWS Region" (Lambda Python docs), and threat/trusted entity sets exist only from botocore 1.40.10
# (2025-08-14). So every function that calls GuardDuty's list operations ships the SDK pinned in
# functions/requirements.txt (SDK_PACKAGES in its DEPS_<LogicalId>); the others use the runtime's. The
# import check proves such an artifact imports botocore from itself and that its GuardDuty model has every
# operation of threatfeed.guardduty.SET_APIS; tools/check_build.py (make build-check) checks the shipped
# model again, fails a function whose code makes a GuardDuty client without shipping the SDK, and one that
# ships it without making one.

# The SAM CLI would otherwise try to send telemetry (this machine has no network; CI output stays clean).
export SAM_CLI_TELEMETRY ?= 0

THREATFEED_ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
LAMBDA_PYTHON_VERSION := 3.13
LAMBDA_PLATFORM := manylinux2014_aarch64
LAMBDA_CONSTRAINTS := $(THREATFEED_ROOT)/functions/requirements.txt
BUILD_PYTHON ?= $(firstword $(wildcard $(THREATFEED_ROOT)/.venv/bin/python) python3)

# The AWS SDK a function ships when it calls GuardDuty's list operations (see the top of this file): boto3
# brings botocore, s3transfer, jmespath, python-dateutil, six and urllib3, all pinned in
# functions/requirements.txt. Its cost, measured for publish: 5.3 -> 27.3 MiB unzipped (Lambda allows 250 MB)
# and about +0.3 s of cold import (the artifact holds no .pyc, so botocore is compiled at every cold start,
# where the runtime's comes precompiled), against calling an SDK of unknown age.
SDK_PACKAGES := boto3

# Top-level pip packages each function imports; versions (transitive ones too) come from
# functions/requirements.txt. Add a package here when a function starts importing it.
DEPS_PlanFunction := aws-lambda-powertools fastjsonschema
DEPS_FetchFunction := aws-lambda-powertools requests
DEPS_TransformFunction := aws-lambda-powertools idna numpy publicsuffixlist
# publish: creates, reads, updates and lists GuardDuty threat intel / threat entity / trusted entity sets.
DEPS_PublishFunction := aws-lambda-powertools $(SDK_PACKAGES)
# summarize: reads the run's results and writes the published state and the summary to S3 (the runtime's SDK).
DEPS_SummarizeFunction := aws-lambda-powertools
# sightings: reads the engine state and writes sightings to S3 (the runtime's SDK; no NumPy: the state's address
# sets are decoded in pure Python by threatfeed.sightings).
DEPS_SightingsFunction := aws-lambda-powertools
# tamper: reads GuardDuty threat intel / threat entity / trusted entity sets (Get*Set) and publishes to SNS.
DEPS_TamperFunction := aws-lambda-powertools $(SDK_PACKAGES)

# Tracing: Lambda's own active tracing (template.yaml, Tracing: Active) records every invocation without any
# SDK in the artifact. Powertools Tracer and the X-Ray SDK it needs are not used: AWS put the X-Ray SDKs in
# maintenance (end of support 2027-02-25, OpenTelemetry recommended), and importing them cost every cold start
# over 100 ms. Add the ADOT layer for spans inside an invocation.

# Packages with compiled code: the artifact holds their aarch64/cp313 build, which this host's Python
# cannot load, so the import check takes the build venv's own copy instead, after checking that the
# artifact has the package (tools/check_build.py then checks the artifact's copy: ELF machine, CPython tag).
HOST_NATIVE_PACKAGES := numpy

# What the python3.13 Lambda runtime itself provides, at a version of its own (simulated from the build venv,
# behind the artifact on sys.path, as on Lambda).
LAMBDA_RUNTIME_PACKAGES := boto3 botocore s3transfer jmespath dateutil six.py urllib3

.PHONY: build build-check build-PlanFunction build-FetchFunction build-TransformFunction build-PublishFunction \
	build-SummarizeFunction build-SightingsFunction build-TamperFunction

# `make build`: the same as `sam build` with samconfig.toml's defaults.
build: venv
	$(BIN)/sam build

# `make build-check` (part of `make test`): proves the artifacts build here for python3.13/arm64 without
# touching .aws-sam/: `sam build` into a scratch directory (removed afterwards, also on failure), then
# tools/check_build.py on the result (artifact contents, native modules' ELF machine and CPython tag).
build-check: venv
	@scratch="$$(mktemp -d "$${TMPDIR:-/tmp}/threatfeed-build.XXXXXX")" && trap 'rm -rf "$$scratch"' EXIT && \
	echo "sam build --build-dir $$scratch/build" && \
	$(BIN)/sam build --build-dir "$$scratch/build" --cache-dir "$$scratch/cache" >"$$scratch/sam-build.log" 2>&1 \
		|| { cat "$$scratch/sam-build.log"; exit 1; }; \
	grep '^build.mk:' "$$scratch/sam-build.log"; \
	$(BIN)/python "$(THREATFEED_ROOT)/tools/check_build.py" "$$scratch/build"

build-PlanFunction:
	$(call threatfeed_function,plan,PlanFunction)

build-FetchFunction:
	$(call threatfeed_function,fetch,FetchFunction)

build-TransformFunction:
	$(call threatfeed_function,transform,TransformFunction)

build-PublishFunction:
	$(call threatfeed_function,publish,PublishFunction)

build-SummarizeFunction:
	$(call threatfeed_function,summarize,SummarizeFunction)

build-SightingsFunction:
	$(call threatfeed_function,sightings,SightingsFunction)

build-TamperFunction:
	$(call threatfeed_function,tamper,TamperFunction)

# $(1) = folder under functions/, $(2) = logical ID (selects DEPS_<LogicalId>).
define threatfeed_function
	@test -n "$(ARTIFACTS_DIR)" || { echo "build.mk: ARTIFACTS_DIR is not set; run 'sam build' (or 'make build')" >&2; exit 2; }
	@test -f "$(THREATFEED_ROOT)/functions/$(1)/app.py" || { echo "build.mk: functions/$(1)/app.py is missing" >&2; exit 2; }
	mkdir -p "$(ARTIFACTS_DIR)"
	"$(BUILD_PYTHON)" -m pip install --quiet --disable-pip-version-check --no-compile \
		--target "$(ARTIFACTS_DIR)" --upgrade \
		--platform $(LAMBDA_PLATFORM) --python-version $(LAMBDA_PYTHON_VERSION) --implementation cp \
		--only-binary=:all: --constraint "$(LAMBDA_CONSTRAINTS)" $(DEPS_$(2))
	cp -R "$(THREATFEED_ROOT)/functions/$(1)/." "$(ARTIFACTS_DIR)/"
	rm -rf "$(ARTIFACTS_DIR)/threatfeed"
	cp -R "$(THREATFEED_ROOT)/src/threatfeed" "$(ARTIFACTS_DIR)/threatfeed"
	rm -rf "$(ARTIFACTS_DIR)/bin"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	@if [ "$(THREATFEED_SKIP_IMPORT_CHECK)" != "1" ]; then \
		THREATFEED_HOST_NATIVE="$(HOST_NATIVE_PACKAGES)" \
		THREATFEED_SHIPS_SDK="$(if $(filter $(SDK_PACKAGES),$(DEPS_$(2))),1)" \
		"$(BUILD_PYTHON)" -I -S -B -c "$$THREATFEED_IMPORT_CHECK" "$(ARTIFACTS_DIR)" \
			"$$("$(BUILD_PYTHON)" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
			"$(2)" $(LAMBDA_RUNTIME_PACKAGES); \
	fi
endef

# argv: artifact dir, build venv site-packages, logical ID, runtime-provided package names;
# env THREATFEED_CHECK_IMPORTS: more modules that must import (those the handlers load lazily);
# env THREATFEED_HOST_NATIVE: compiled packages taken from the build venv when the artifact has them;
# env THREATFEED_SHIPS_SDK=1: the artifact ships the SDK (SDK_PACKAGES): boto3 and botocore must import from
# it, not from the runtime behind it, and a GuardDuty client made with them must have every method of
# threatfeed.guardduty.SET_APIS (what the function calls; missing, Lambda raises AttributeError).
define THREATFEED_IMPORT_CHECK
import importlib, os, sys, tempfile, traceback
artifact, site, logical_id, provided = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as runtime, tempfile.TemporaryDirectory(prefix="host-native-") as native:
    for name in provided:
        if os.path.exists(os.path.join(site, name)):
            os.symlink(os.path.join(site, name), os.path.join(runtime, name))
    for name in os.environ.get("THREATFEED_HOST_NATIVE", "").split():
        if os.path.exists(os.path.join(artifact, name)):
            os.symlink(os.path.join(site, name), os.path.join(native, name))
    sys.path[:0] = [native, artifact, runtime]
    os.environ.update(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_LAMBDA_FUNCTION_NAME=logical_id,
                      THREATFEED_BUCKET="import-check", THREATFEED_STACK_NAME="import-check")
    hint = "see the traceback above"
    try:
        import app
        import threatfeed
        assert callable(getattr(app, "handler", None)), "app.py defines no handler(event, context)"
        for module in os.environ.get("THREATFEED_CHECK_IMPORTS", "").split():
            importlib.import_module(module)
    except ModuleNotFoundError as exc:
        traceback.print_exc()
        top = (exc.name or "").partition(".")[0]
        if top in ("threatfeed", "app"):
            hint = f"{exc.name} does not exist in the working tree"
        else:
            hint = f"add the package providing {top!r} to DEPS_{logical_id} in build.mk (pin it in functions/requirements.txt)"
        sys.exit(f"build.mk: {logical_id}: the artifact does not import on its own ({artifact}): {hint}")
    except Exception:
        traceback.print_exc()
        sys.exit(f"build.mk: {logical_id}: importing app from the artifact failed ({artifact}): {hint}")
    sdk = ""
    if os.environ.get("THREATFEED_SHIPS_SDK") == "1":
        import boto3, botocore
        from threatfeed.guardduty import SET_APIS
        for module in (boto3, botocore):
            if not os.path.realpath(module.__file__).startswith(os.path.realpath(artifact) + os.sep):
                sys.exit(f"build.mk: {logical_id}: {module.__name__} imports from {module.__file__}, not from the artifact "
                         f"({artifact}): DEPS_{logical_id} has SDK_PACKAGES, so pip should have installed it there")
        gd = boto3.session.Session().client("guardduty", region_name="us-east-1")
        wanted = [getattr(api, kind) for api in SET_APIS.values() for kind in ("create", "get", "list", "update")]
        missing = ["".join(w.capitalize() for w in name.split("_")) for name in wanted if not hasattr(gd, name)]
        if missing:
            sys.exit(f"build.mk: {logical_id}: the botocore it ships ({botocore.__version__}) has no GuardDuty "
                     f"{', '.join(missing)} (threatfeed.guardduty.SET_APIS calls them): pin boto3 and botocore "
                     "releases that have them in functions/requirements.txt (entity sets: botocore >= 1.40.10)")
        sdk = (f"; boto3 {boto3.__version__} and botocore {botocore.__version__} import from it, with all "
               f"{len(wanted)} GuardDuty operations of SET_APIS")
print(f"build.mk: {logical_id}: app and threatfeed import from the artifact alone{sdk}")
endef
export THREATFEED_IMPORT_CHECK
