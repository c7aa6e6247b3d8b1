#!/usr/bin/env bash
# Build the small image the Docker sandbox tests run in, with no registry: a root filesystem of
# Debian's static busybox (sh, ls, cat, echo, sleep, wget, ...) imported with `docker import`.
#   scripts/docker-test-image.sh [TAG]     (default moco-test-busybox:latest)
# Needs a running Docker engine and busybox-static (`apt-get install busybox-static`).
# Idempotent: an existing image is kept unless MOCO_DOCKER_IMAGE_FORCE=1.
set -euo pipefail

TAG="${1:-moco-test-busybox:latest}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"

if ! docker info >/dev/null 2>&1; then
  echo "docker-test-image: no Docker engine answers (start dockerd first)" >&2
  exit 1
fi
if docker image inspect "$TAG" >/dev/null 2>&1 && [[ "${MOCO_DOCKER_IMAGE_FORCE:-0}" != "1" ]]; then
  echo "docker-test-image: $TAG already present"
  exit 0
fi
if ! applets="$("$BUSYBOX" --list 2>/dev/null)" || [[ -z "$applets" ]]; then
  echo "docker-test-image: $BUSYBOX is not a busybox binary (apt-get install busybox-static)" >&2
  exit 1
fi
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "docker-test-image: $BUSYBOX is dynamically linked; the image needs busybox-static" >&2
  exit 1
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/workspace" "$root/proc" "$root/dev" \
  "$root/sys" "$root/root"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [[ "$applet" == busybox ]] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' -c 'WORKDIR /workspace' - "$TAG" >/dev/null
echo "docker-test-image: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"
