#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Regenerates configure and the Makefile.in files from configure.ac and the
# Makefile.am files.  Run it after a fresh checkout, then ./configure && make.

set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf --force --install --warnings=all
