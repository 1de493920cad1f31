#!/usr/bin/env bash
# `make audit`: known vulnerabilities in the pinned versions of both Python environments
# (pip-audit on ai-service/ and backend/ requirements + constraints) and of the web app (npm audit
# on frontend/package-lock.json). Kept out of `make test`: it needs the advisory services.
#
# Exit status: 0 nothing known; 1 a pinned version has a known vulnerability (or could not be
# audited); 2 an advisory service could not be reached, so nothing can be said (the reason is
# printed). pip-audit lives in its own environment, .audit-venv, never in the services' ones.
# Not audited: backend/tests/readium, test tooling that never ships and never reaches the network
# (Thorium's EPUB parser reading files the tests wrote); its old HTTP client dependencies
# (request, form-data, tough-cookie, pulled in by r2-lcp-js) have advisories about network use.
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.audit-venv
PIP_AUDIT_VERSION=2.10.1
SERVICE=${PIP_AUDIT_SERVICE:-pypi} # or osv
# A release with published advisories: if the service reports none for it, it is not answering.
CANARY="jinja2==2.4.1"

found=0
unreachable=0

say() { echo "audit: $*"; }

cannot_check() {
    say "CANNOT CHECK $1: $2"
    say "  the advisory service must be reachable from this machine; run 'make audit' where it is"
    unreachable=1
}

install_pip_audit() {
    if [ -x "$VENV/bin/pip-audit" ] && "$VENV/bin/pip-audit" --version 2>/dev/null | grep -q " $PIP_AUDIT_VERSION$"; then
        return 0
    fi
    say "installing pip-audit $PIP_AUDIT_VERSION into $VENV"
    "$PYTHON" -m venv "$VENV" && "$VENV/bin/python" -m pip install -q "pip-audit==$PIP_AUDIT_VERSION"
}

pip_audit() {
    "$VENV/bin/pip-audit" --strict --no-deps --disable-pip --progress-spinner off -s "$SERVICE" "$@"
}

python_service_answers() {
    local canary report
    canary=$(mktemp) report=$(mktemp)
    echo "$CANARY" >"$canary"
    pip_audit -r "$canary" -f json -o "$report" 2>"$report.err"
    local known
    known=$("$VENV/bin/python" -c 'import json, sys
try:
    deps = json.load(open(sys.argv[1]))["dependencies"]
except Exception:
    deps = []
print(sum(len(d.get("vulns", [])) for d in deps))' "$report")
    if [ "$known" -gt 0 ]; then
        rm -f "$canary" "$report" "$report.err"
        return 0
    fi
    reason=$(grep -v WARNING "$report.err" | tail -n 1)
    rm -f "$canary" "$report" "$report.err"
    return 1
}

audit_python() {
    local name=$1
    shift
    say "pip-audit: $name"
    local args=()
    for file in "$@"; do args+=(-r "$file"); done
    pip_audit "${args[@]}" 2> >(grep -v -e "--no-deps is supported" -e "pip-compile" >&2) || found=1
}

audit_web_app() {
    say "npm audit: frontend"
    local report
    report=$(cd frontend && npm audit --package-lock-only --json 2>/dev/null)
    local verdict
    verdict=$(printf '%s' "$report" | "$PYTHON" -c 'import json, sys
try:
    report = json.load(sys.stdin)
except ValueError:
    print("unreachable no answer from the npm audit endpoint"); raise SystemExit
if "error" in report or "message" in report:
    print("unreachable", report.get("message") or report["error"].get("summary")); raise SystemExit
total = report.get("metadata", {}).get("vulnerabilities", {}).get("total", 0)
print("found" if total else "clean", total)')
    case $verdict in
        clean*) say "  no known vulnerabilities" ;;
        found*) (cd frontend && npm audit --package-lock-only) ; found=1 ;;
        *) cannot_check "the web app" "${verdict#unreachable }" ;;
    esac
}

if ! install_pip_audit; then
    cannot_check "the Python environments" "pip-audit $PIP_AUDIT_VERSION could not be installed"
elif python_service_answers; then
    audit_python "inference service" ai-service/requirements.txt ai-service/constraints.txt
    audit_python "app server" backend/requirements.txt backend/constraints.txt
else
    cannot_check "the Python environments" "the '$SERVICE' vulnerability service gave no advisories for $CANARY (${reason:-no answer})"
fi
audit_web_app

if [ $found -ne 0 ]; then
    say "FAILED: known vulnerabilities (or unauditable packages) in the pinned versions, listed above"
    exit 1
elif [ $unreachable -ne 0 ]; then
    say "INCOMPLETE: an advisory service could not be reached (see above); nothing was concluded"
    exit 2
fi
say "no known vulnerabilities in the pinned versions"
