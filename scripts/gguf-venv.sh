#!/usr/bin/env bash
# The gguf Python package (llama.cpp's gguf-py), the independent implementation the K-quant
# decoders are checked against (model/tests/k_quants.rs), in a venv of the cache directory.
# Prints the venv's python.
set -euo pipefail
VENV="${HARDWIRE_CACHE_DIR:-$HOME/.cache/hardwire}/gguf-venv"
if ! "$VENV/bin/python3" -c "import gguf" >/dev/null 2>&1; then
    echo "installing the gguf Python package into $VENV (PyPI, about 30 MB with numpy)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "gguf==0.19.0" >&2
fi
echo "$VENV/bin/python3"
