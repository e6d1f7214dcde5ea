#!/usr/bin/env bash
# Installs the real consumers rtscope's tests run against: rotel (a Rust OTLP
# collector shipped as a PyPI wheel), the Python packages integration/receiver.py
# decodes OTLP with, and the Debian tools the tests drive: `go tool pprof`
# (golang-go), Prometheus and promtool (prometheus), headless Chromium
# (chromium), a TLS terminator (stunnel4), the openssl CLI and tmux (the
# terminal `rtscope top` is tested in).
#
# Everything goes into <repo>/.venv (gitignored). Idempotent: when the venv
# already holds exactly the pinned versions and rotel-agent runs, it only
# prints where rotel-agent is and exits (well under a second).
#
# Works unattended (CI=true, no stdin) on Debian as root; it calls apt-get
# only when libpython3.11.so.1.0, which rotel-agent links, is missing.
#
# Usage: bash scripts/install-collector.sh
# Env:   RTSCOPE_COLLECTOR_VENV  venv location (default <repo>/.venv)
#        PYTHON                  python 3.11 interpreter to build the venv with
set -euo pipefail

# Pinned versions. The rotel wheel is tagged cp311: the venv needs Python 3.11.
ROTEL_VERSION="0.0.1a15"
OTEL_PROTO_VERSION="1.45.2"
PROTOBUF_VERSION="7.36.2"
# The receiver's OTLP/gRPC profiles endpoint (rotel does not carry profiles).
GRPCIO_VERSION="1.85.3"
REQUIREMENTS=(
	"rotel==${ROTEL_VERSION}"
	"opentelemetry-proto==${OTEL_PROTO_VERSION}"
	"protobuf==${PROTOBUF_VERSION}"
	"grpcio==${GRPCIO_VERSION}"
)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${RTSCOPE_COLLECTOR_VENV:-${repo}/.venv}"
stamp="${venv}/.rtscope-collector-stamp"
want_stamp="$(printf '%s\n' "${REQUIREMENTS[@]}")"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1

log() { printf 'install-collector: %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		log "need root to run: $*"
		return 1
	fi
}

apt_updated=0
apt_install() {
	if [ "$apt_updated" -eq 0 ]; then
		log "apt-get update"
		as_root apt-get update -qq </dev/null
		apt_updated=1
	fi
	log "apt-get install $*"
	as_root apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

have_libpython() {
	ldconfig -p 2>/dev/null | grep -q 'libpython3\.11\.so\.1\.0 ' ||
		[ -e /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0 ] ||
		[ -e /lib/x86_64-linux-gnu/libpython3.11.so.1.0 ]
}

find_rotel() {
	# The wheel puts the binary inside the package directory.
	local f
	for f in "${venv}"/lib/python3*/site-packages/rotel/rotel-agent; do
		if [ -x "$f" ]; then
			printf '%s\n' "$f"
			return 0
		fi
	done
	return 1
}

venv_ok() {
	[ -x "${venv}/bin/python" ] || return 1
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] || return 1
	"${venv}/bin/python" -c 'import grpc, google.protobuf, opentelemetry.proto.metrics.v1.metrics_pb2' \
		>/dev/null 2>&1 || return 1
	local rotel
	rotel="$(find_rotel)" || return 1
	"$rotel" version >/dev/null 2>&1
}

pick_python() {
	local p
	for p in "${PYTHON:-}" python3.11 python3 /usr/bin/python3.11; do
		[ -n "$p" ] || continue
		command -v "$p" >/dev/null 2>&1 || continue
		if "$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# 1. The shared library rotel-agent links.
if ! have_libpython; then
	apt_install libpython3.11
fi

# 2. The venv with the pinned packages.
if ! venv_ok; then
	python="$(pick_python)" || {
		log "no Python 3.11 found (rotel ${ROTEL_VERSION} ships a cp311 wheel); set PYTHON=/path/to/python3.11"
		exit 1
	}
	if [ ! -x "${venv}/bin/python" ] || ! "${venv}/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
		log "creating venv ${venv} with $(command -v "$python")"
		rm -rf "$venv"
		if ! "$python" -m venv "$venv" </dev/null; then
			# Debian's own python3.11 needs python3.11-venv for ensurepip.
			rm -rf "$venv"
			apt_install python3.11-venv
			"$python" -m venv "$venv" </dev/null
		fi
	fi
	log "pip install ${REQUIREMENTS[*]}"
	"${venv}/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}" </dev/null
	rm -f "$stamp"
	printf '%s\n' "$want_stamp" >"$stamp"
	if ! venv_ok; then
		log "installed, but the check failed; try: $(find_rotel || echo rotel-agent) version"
		exit 1
	fi
fi

# 3. The Debian tools the tests drive, each installed only when its command is missing.
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 || missing+=(stunnel4)
# The CLI integration/tests/tls.rs makes its CA and certificates with.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# The terminal integration/tests/top.rs runs `rtscope top` in (send-keys, capture-pane).
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ "${#missing[@]}" -gt 0 ]; then
	apt_install "${missing[@]}"
fi

rotel="$(find_rotel)"
# The wheel's version is the one pinned; the binary names its own build (0.0.1-alpha10-...).
log "ready: rotel ${ROTEL_VERSION} (rotel-agent $("$rotel" version 2>/dev/null | head -n1))"
printf 'rotel-agent: %s\n' "$rotel"
printf 'python: %s\n' "${venv}/bin/python"
