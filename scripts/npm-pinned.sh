# Sourced by the scripts that run an npm package for the tests (scripts/push-service/run,
# scripts/oidc-provider/run): installs a package pinned by a package-lock.json, once.
#
# npm_pinned NAME CACHE SOURCE ENTRY CHECK [FILE...]
#   Installs SOURCE/package.json and SOURCE/package-lock.json, pinned with their integrity hashes, with
#   `npm ci --ignore-scripts` (none of our pins has an install script), beside copies of SOURCE/FILE... (an
#   ES module finds its imports from where it is), into CACHE/<sha256 of the lock file and the FILEs>/, unless
#   ENTRY (a path in that directory) is there already. CHECK is a Node.js ES module snippet run there that must
#   load the package. The directory appears whole (installed beside it, then renamed into place) under a lock,
#   so concurrent callers wait for one install; other pins' directories are removed then. Sets PINNED_DIR.
#   Needs Node.js 20 or newer ($NODE, default node) and npm; progress and npm's output go to stderr.
npm_pinned() {
    local name=$1 cache=$2 source=$3 entry=$4 check=$5
    shift 5
    local node=${NODE:-node} files=()
    for file in "$@"; do files+=("$source/$file"); done
    local pin
    pin=$(cat "$source/package-lock.json" "${files[@]}" | sha256sum | cut -d' ' -f1)
    PINNED_DIR=$cache/$pin
    [ -f "$PINNED_DIR/$entry" ] && return 0
    if ! command -v "$node" >/dev/null || ! command -v npm >/dev/null; then
        echo "==> $name: node and npm are needed" >&2
        return 1
    fi
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
    if [ ! -f "$PINNED_DIR/$entry" ]; then
        echo "==> $name: installing (npm ci, $source/package-lock.json) into $PINNED_DIR" >&2
        local t0 tmp
        t0=$(date +%s)
        tmp=$(mktemp -d "$cache/.install.XXXXXX")
        cp "$source/package.json" "$source/package-lock.json" "${files[@]}" "$tmp/"
        if ! (cd "$tmp" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 &&
            "$node" --input-type=module -e "$check" >&2); then
            rm -rf "$tmp"
            flock -u 9
            return 1
        fi
        chmod 755 "$tmp"
        rm -rf "$PINNED_DIR"
        mv "$tmp" "$PINNED_DIR"
        find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$pin" ! -name '.install.*' -exec rm -rf {} +
        echo "==> $name: installed in $(($(date +%s) - t0)) s" >&2
    fi
    flock -u 9
}
