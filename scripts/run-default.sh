#!/bin/sh
# `make run`: boot the default guest with kiln's defaults (256M, 1 CPU). Extra flags: make run ARGS="--cpus 2".
exec build/kiln run $ARGS
