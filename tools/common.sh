# shellcheck shell=bash
# NINJA is set here for the scripts that source this file:
# shellcheck disable=SC2034
# common.sh: shared by tools/test, tools/demo, tools/install and
# tools/install-check. Source it; it changes directory to the top of the
# tree and defines:
#
#   ensure_build_tools   a C compiler, python3 and ninja (ninja from PyPI
#                        when missing); sets NINJA to the command to run
#   ensure_pkg_config    pkg-config (from the distribution when missing)
#   ensure_python_pkgs   installs the named Python packages if missing
#   regen_build          rewrites build.ninja from the current tree
#
# Each installs only what is missing, so running them again costs
# nothing.

GORT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$GORT_ROOT" || exit 1

# The command that runs ninja; set by ensure_build_tools.
NINJA=()

die() {
    echo "$(basename "$0"): $*" >&2
    exit 1
}

pip_install() {
    local pip=(env PIP_ROOT_USER_ACTION=ignore
        python3 -m pip install --quiet --disable-pip-version-check)

    # A distribution's own Python may refuse (PEP 668); then retry the
    # way it asks for.
    "${pip[@]}" "$@" || "${pip[@]}" --break-system-packages "$@"
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || return 1
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "$@" </dev/null
}

ensure_build_tools() {
    command -v python3 >/dev/null 2>&1 || die "python3 is needed"
    command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev ||
        die "a C compiler (cc) is needed"

    if command -v ninja >/dev/null 2>&1; then
        NINJA=(ninja)
        return
    fi
    echo "installing ninja from PyPI" >&2
    pip_install ninja || die "could not install ninja"
    hash -r
    if command -v ninja >/dev/null 2>&1; then
        NINJA=(ninja)
    elif python3 -c 'import ninja' 2>/dev/null; then
        # Installed, but its script is not on PATH (a user install, or
        # a version manager's shims not yet refreshed).
        NINJA=(python3 -m ninja)
    else
        die "ninja was installed but cannot be run"
    fi
}

ensure_pkg_config() {
    command -v pkg-config >/dev/null 2>&1 && return
    echo "installing pkg-config" >&2
    apt_install pkg-config || die "pkg-config is needed"
}

ensure_python_pkgs() {
    local missing=() mod
    for mod in "$@"; do
        python3 -c "import $mod" 2>/dev/null || missing+=("$mod")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "installing ${missing[*]} from PyPI" >&2
    pip_install "${missing[@]}" || die "could not install ${missing[*]}"
}

regen_build() {
    python3 tools/gen-ninja || die "tools/gen-ninja failed"
}
