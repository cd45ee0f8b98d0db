#!/bin/sh
JAX_PLATFORMS="${JAX_PLATFORMS:-}" exec "${PYTHON:-python}" benchmarks/gpu.py "$@"
