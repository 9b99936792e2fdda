#!/usr/bin/env bash
# Main job: train the seed CNN on the real Fashion-MNIST with nbkeras.
#
#   bash run-main.sh [--epochs N] [--batch-size N]
#
# On a fresh Debian machine this installs Debian's dataset-fashion-mnist package
# (when the data is missing), creates .venv, installs nbkeras into it and runs
# examples/fashion_mnist_cnn.py. Re-running reuses all of that.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"
DATA_DIR="/usr/share/datasets/fashion-mnist"
DATA_PKG="dataset-fashion-mnist"

# Compiled Numba kernels are cached here between runs (ignored by git).
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.numba_cache}"

# ---- 1. the data: Debian's copy of Fashion-MNIST ---------------------------
install_dataset() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo)
        else
            echo "run-main.sh: $DATA_DIR is missing and this user cannot run apt-get." >&2
            echo "  Install it as root:  apt-get update && apt-get install -y $DATA_PKG" >&2
            echo "  (or put the four Fashion-MNIST .gz files in ~/.keras/datasets/fashion-mnist/;" >&2
            echo "   without either, nbkeras tries to download them into that folder)." >&2
            return 1
        fi
    fi
    echo "Installing $DATA_PKG with apt-get ..."
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$DATA_PKG"
}

if [ ! -d "$DATA_DIR" ]; then
    if command -v apt-get >/dev/null 2>&1; then
        install_dataset || echo "run-main.sh: continuing without $DATA_PKG." >&2
    else
        echo "run-main.sh: $DATA_DIR is missing and apt-get is not available;" >&2
        echo "  nbkeras will look in ~/.keras/datasets/fashion-mnist/, then try to download." >&2
    fi
fi

# ---- 2. the virtualenv with nbkeras installed -------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating virtualenv $VENV ..."
    "$PYTHON" -m venv "$VENV"
fi
# Editable install: the venv follows the working tree (kernels/ is mapped to
# nbkeras.kernels by pyproject.toml). Reinstall only when pyproject.toml changes.
STAMP="$VENV/.nbkeras-install-stamp"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] \
        || ! "$VENV/bin/python" -c "import nbkeras.kernels.cpu" >/dev/null 2>&1; then
    echo "Installing nbkeras into $VENV ..."
    "$VENV/bin/python" -m pip install --quiet -e .
    echo "$WANT" > "$STAMP"
fi

# ---- 3. the job ------------------------------------------------------------
exec "$VENV/bin/python" examples/fashion_mnist_cnn.py "$@"
