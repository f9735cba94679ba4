#!/usr/bin/env bash
# README's test command: installs what the tests need, then runs every test of the workspace.
#   - verilator, iverilog and yosys (Debian packages) for co-simulation and lint;
#   - python3 with venv, in which the ECP5 tests install the YoWASP tools on first use;
#   - the real SmolLM2-135M (scripts/fetch-smollm2.sh, into ~/.cache/hardwire, never into git).
#   - the gguf Python package (scripts/gguf-venv.sh, a venv in ~/.cache/hardwire) for the
#     K-quant decoders' check.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh --test cli_output`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in verilator iverilog yosys; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "the tests need ${missing[*]}; install them (apt-get install ${missing[*]}) and run again" >&2
            exit 1
        fi
    fi
    echo "installing ${missing[*]} (apt-get)" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "$(verilator --version); $(iverilog -V 2>/dev/null | head -1 || true); $(yosys -V)" >&2

echo "the real SmolLM2-135M for the outside check:" >&2
bash scripts/fetch-smollm2.sh >&2
echo "the gguf Python package, the K-quant decoders' independent check:" >&2
bash scripts/gguf-venv.sh >/dev/null

cargo test --workspace "$@"
