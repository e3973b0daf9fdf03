#!/usr/bin/env bash
# test.sh runs every Folio test on a fresh machine. It installs what is
# missing (Chromium from Debian for the browser tests, the npm packages that
# build the editor bundle), then checks formatting, vets, verifies that the
# committed editor bundle is a fresh build, and runs `go test -race ./...`.
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages the tests run: Chromium for the browser tests, strace to
# fail a chosen system call in a child (cmd/folio TestBackupSyncsItsDirectory).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v strace >/dev/null 2>&1 || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]} (Debian packages) for the tests"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f web/ui/package.json ]; then
	log "editor: npm ci, type-check, unit tests, bundle"
	(cd web/ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check && npm test && npm run --silent build)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		stale=$(git status --porcelain -- web/ui/dist)
		if [ -n "$stale" ]; then
			printf '%s\n' "$stale" >&2
			log "the committed editor bundle differs from a fresh build: run 'cd web/ui && npm run build' and commit"
			exit 1
		fi
	fi
fi

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/ui/node_modules/*'))
if [ -n "$unformatted" ]; then
	printf 'not gofmt-formatted:\n%s\n' "$unformatted" >&2
	exit 1
fi

log "go vet"
go vet ./...

log "go test -race"
go test -race -count=1 -timeout 20m "$@" ./...
