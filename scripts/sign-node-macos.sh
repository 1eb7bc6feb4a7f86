#!/usr/bin/env bash
# Makes a signed copy of the current `node` with the Virtualization.framework entitlement,
# so the server can run the `vz` hypervisor driver. Entitlements belong to the executable,
# not to a library it loads: an unentitled node loads libvelocity_vz.dylib, but
# Virtualization.framework then refuses every VM configuration.
#
#   scripts/sign-node-macos.sh [-o PATH] [--node PATH] [--bridged]
#
#   -o, --output PATH  where the signed copy goes (default: native-bridge/build/node-velocity)
#   --node PATH        the node binary to copy (default: the `node` on PATH)
#   --bridged          also claim com.apple.vm.networking (bridged NICs). Restricted: it only
#                      works with a signing identity whose provisioning profile Apple granted
#                      it (set SIGN_IDENTITY); macOS kills an ad-hoc binary that claims it.
#
#   SIGN_IDENTITY      codesign identity (default "-": ad-hoc, which is all the virtualization
#                      entitlement needs)
#
# The node binary itself is left alone (it may belong to Homebrew, nvm or an installer, and
# an upgrade would drop the signature anyway); after a Node upgrade, run this again.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUTPUT="$ROOT/native-bridge/build/node-velocity"
NODE_BIN=""
PLIST="$ROOT/native-bridge/entitlements/velocity.entitlements"
BRIDGED=0
IDENTITY="${SIGN_IDENTITY:--}"

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    -o | --output)
      [ $# -ge 2 ] || { echo "sign-node-macos.sh: $1 needs a path" >&2; exit 2; }
      OUTPUT="$2"
      shift 2
      ;;
    --node)
      [ $# -ge 2 ] || { echo "sign-node-macos.sh: $1 needs a path" >&2; exit 2; }
      NODE_BIN="$2"
      shift 2
      ;;
    --bridged)
      BRIDGED=1
      PLIST="$ROOT/native-bridge/entitlements/velocity-bridged.entitlements"
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "sign-node-macos.sh: unknown argument $1 (try --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$(uname -s)" != "Darwin" ]; then
  echo "sign-node-macos.sh: this is for macOS only: the vz driver needs Apple's Virtualization.framework." >&2
  echo "On Linux, run the server with VELOCITY_HYPERVISOR=qemu (or sim); no signing is needed there." >&2
  exit 1
fi

if [ -z "$NODE_BIN" ]; then
  command -v node >/dev/null 2>&1 || { echo "sign-node-macos.sh: no node on PATH (or pass --node PATH)" >&2; exit 1; }
  # The real binary behind any shim or symlink (nvm, Homebrew, volta …).
  NODE_BIN="$(node -p 'require("fs").realpathSync(process.execPath)')"
fi
if [ ! -f "$NODE_BIN" ] || [ ! -x "$NODE_BIN" ]; then
  echo "sign-node-macos.sh: $NODE_BIN is not an executable file" >&2
  exit 1
fi
[ -f "$PLIST" ] || { echo "sign-node-macos.sh: missing $PLIST" >&2; exit 1; }

if [ "$BRIDGED" = 1 ] && [ "$IDENTITY" = "-" ]; then
  echo "sign-node-macos.sh: --bridged needs SIGN_IDENTITY: com.apple.vm.networking is restricted, and macOS" >&2
  echo "kills an ad-hoc signed binary that claims it. Without Apple's grant, use FILEHANDLE NICs" >&2
  echo "(e.g. with socket_vmnet) for bridged networking instead." >&2
  exit 1
fi

case "$OUTPUT" in
  /*) ;;
  *) OUTPUT="$PWD/$OUTPUT" ;;
esac
mkdir -p "$(dirname "$OUTPUT")"
# A new file rather than an overwrite: macOS caches code signatures per file (vnode), and a
# binary rewritten in place under a cached signature is killed when it starts.
rm -f "$OUTPUT"
cp "$NODE_BIN" "$OUTPUT"
chmod 755 "$OUTPUT"

# --force replaces Node's own signature. No hardened runtime (--options runtime): Node's JIT
# and the libraries it loads (koffi, libvelocity_vz.dylib) would otherwise need further
# entitlements (allow-jit, disable-library-validation …); the hardened runtime only matters
# for notarized distribution, not for a binary built and run on this Mac.
codesign --sign "$IDENTITY" --force --entitlements "$PLIST" "$OUTPUT"
codesign --verify --verbose=1 "$OUTPUT"

# (--xml prints the plist on current macOS; the plain form is the fallback for older ones.)
entitlements="$(codesign -d --entitlements - --xml "$OUTPUT" 2>&1 || codesign -d --entitlements - "$OUTPUT" 2>&1 || true)"
for key in com.apple.security.virtualization $([ "$BRIDGED" = 1 ] && echo com.apple.vm.networking); do
  case "$entitlements" in
    *"$key"*) ;;
    *)
      echo "sign-node-macos.sh: $OUTPUT was signed but does not show the $key entitlement:" >&2
      codesign -d --entitlements - "$OUTPUT" >&2 || true
      exit 1
      ;;
  esac
done

# macOS kills a binary whose entitlements its signature may not claim: check that it runs.
if ! version="$("$OUTPUT" --version 2>&1)"; then
  echo "sign-node-macos.sh: the signed copy does not start ($version)." >&2
  if [ "$BRIDGED" = 1 ]; then
    echo "com.apple.vm.networking needs a provisioning profile that grants it to SIGN_IDENTITY;" >&2
    echo "run without --bridged and use FILEHANDLE NICs instead." >&2
  fi
  exit 1
fi

echo
echo "Signed $NODE_BIN ($version)"
echo "     -> $OUTPUT"
echo "   with $(basename "$PLIST") (identity: $IDENTITY)"
echo
echo "Run the server with it:"
echo "  npm run build"
echo "  VELOCITY_HYPERVISOR=vz $OUTPUT dist/src/main.js"
echo
echo "After upgrading Node, run $0 again."
