#!/bin/sh
# Check (and, as root, install) the Debian packages a target needs.
# usage: mk/deps.sh build|bench|fuzz
# Exit 0 when everything is present; 1 with the exact command otherwise.
set -eu

case "${1:-build}" in
build) pkgs="gcc make pkg-config liburing-dev libcmocka-dev libseccomp-dev" ;;
bench) pkgs="gcc make pkg-config liburing-dev libcmocka-dev libseccomp-dev wrk gnuplot-nox" ;;
fuzz)  pkgs="clang libclang-rt-14-dev" ;;
format) pkgs="clang-format" ;;
*) echo "mk/deps.sh: unknown set '$1'" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "iolayer: missing build dependencies:$missing" >&2
	echo "iolayer: this is not a Debian-like system; install the equivalents of those packages." >&2
	exit 1
fi

if [ "$(id -u)" = 0 ]; then
	echo "iolayer: installing missing packages:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get install -y --no-install-recommends $missing >&2; then
		apt-get update >&2
		# shellcheck disable=SC2086
		apt-get install -y --no-install-recommends $missing >&2
	fi
	exit 0
fi

echo "iolayer: missing build dependencies:$missing" >&2
echo "iolayer: install them with:" >&2
echo "    sudo apt-get install -y$missing" >&2
exit 1
