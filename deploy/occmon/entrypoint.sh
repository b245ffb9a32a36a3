#!/bin/sh
# Expand ${VARS} of the mounted site file (broker password...) into a private copy, then run
# `occmon <command> /run/occmon/site.yaml`. Secrets stay in .env, not in the site file.
set -eu
mkdir -p /run/occmon
python -c 'import os, sys; sys.stdout.write(os.path.expandvars(open(sys.argv[1]).read()))' \
  "${OCCMON_CONFIG:-/etc/occmon/site.yaml}" > /run/occmon/site.yaml
cmd="$1"; shift
exec occmon "$cmd" /run/occmon/site.yaml "$@"
