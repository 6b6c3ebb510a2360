#!/usr/bin/env bash
# One boot of one host, run by the harness under `unshare --mount --net --pid --fork`: everything mounted here
# lives in this private mount namespace and dies with it; the only global object, the loop device, is detached
# on exit. Layout of $WBT_RUN: upper/ work/ (the root filesystem's overlay), merged/, share/ (bound at /run/wbt:
# world.json, cloud/, log/, steps).
set -euo pipefail
run=$WBT_RUN
merged="${run}/merged"
share="${run}/share"
loop="" server=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n "$server" ]]; then kill "$server" 2> /dev/null || true; fi
  umount -R -l "$merged" 2> /dev/null || true
  if [[ -n "$loop" ]]; then losetup -d "$loop" 2> /dev/null || true; fi
}
trap cleanup EXIT

# The sandbox's own network: loopback (DNS, the AWS API) and the instance metadata address.
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
rm -f "${share}/ready"
"$WBT_NODE" "$WBT_SERVER" "${share}/world.json" >> "${share}/log/server.out" 2>&1 &
server=$!

# A pool member has no data volume (WBT_IMAGE empty): no device at all.
if [[ -n "$WBT_IMAGE" ]]; then
  loop=$(losetup --find --show "$WBT_IMAGE")
  echo "$loop" > "${share}/loop"
fi
install -d "$merged" "${run}/upper" "${run}/work"
mount -t overlay overlay -o "lowerdir=${WBT_ROOT},upperdir=${run}/upper,workdir=${run}/work" "$merged"
mount -t proc proc "${merged}/proc"
mount -t tmpfs -o mode=0755,size=16m tmpfs "${merged}/dev"
dev="${merged}/dev"
mknod -m 0666 "${dev}/null" c 1 3
mknod -m 0666 "${dev}/zero" c 1 5
mknod -m 0666 "${dev}/full" c 1 7
mknod -m 0666 "${dev}/random" c 1 8
mknod -m 0666 "${dev}/urandom" c 1 9
ln -s /proc/self/fd "${dev}/fd"
ln -s /proc/self/fd/0 "${dev}/stdin"
ln -s /proc/self/fd/1 "${dev}/stdout"
ln -s /proc/self/fd/2 "${dev}/stderr"
install -d -m 1777 "${dev}/shm"
mount -t tmpfs -o mode=0755,size=64m tmpfs "${merged}/run"
install -d "${merged}/run/wbt" "${merged}/opt/wbt-standins"
mount --bind "$share" "${merged}/run/wbt"
mount --bind -o ro "$WBT_STANDINS" "${merged}/opt/wbt-standins"

# The EBS volume as Nitro shows it: an NVMe block device and udev's by-id link carrying the volume id.
attach() {
  local name=${loop#/dev/} major minor
  major=$((16#$(stat -c %t "$loop")))
  minor=$((16#$(stat -c %T "$loop")))
  mknod -m 0660 "${dev}/${name}" b "$major" "$minor"
  install -d "${dev}/disk/by-id"
  ln -s "../../${name}" "${dev}/disk/by-id/nvme-Amazon_Elastic_Block_Store_${WBT_VOLUME_SERIAL}"
  # And by its filesystem's UUID once it has one, as udev links it (fstab names the volume so).
  local uuid
  uuid=$(blkid -p -o value -s UUID "$loop" || true)
  if [[ -n "$uuid" ]]; then
    install -d "${dev}/disk/by-uuid"
    ln -s "../../${name}" "${dev}/disk/by-uuid/${uuid}"
  fi
}
polls() { grep -cs '"cmd":"sleep","cwd":"[^"]*","argv":\["5"\]' "${share}/log/commands.jsonl" || true; }
if [[ -z "$loop" ]]; then
  :
elif [[ "${WBT_ATTACH_AFTER_POLLS:-0}" == 0 ]]; then
  attach
else
  # Late: only after the data-volume step has looked for it (and slept) that many times; counted, not timed, so a
  # loaded machine cannot change what the test sees.
  (until (($(polls) >= WBT_ATTACH_AFTER_POLLS)); do sleep 0.01; done && attach) &
fi

# What the VPC gives an instance: a resolver (here: the public DNS stand-in), a host name.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "${merged}/etc/resolv.conf"
printf '127.0.0.1 localhost\n' > "${merged}/etc/hosts"

for _ in $(seq 1 100); do
  [[ -s "${share}/ready" ]] && break
  sleep 0.05
done
[[ -s "${share}/ready" ]] || {
  echo "sandbox: the stand-in server did not start" >&2
  cat "${share}/log/server.out" >&2
  exit 90
}

in_root() { # COMMAND...: as cloud-init or an operator would run it
  chroot "$merged" /usr/bin/env -i PATH=/opt/wbt-standins:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 "$@"
}
# A host that booted before comes up with its filesystems: systemd mounts what its fstab lists (the data volume,
# once the bootstrap wrote its line). A first boot's root has none; a late volume is not there yet.
if [[ "${WBT_ATTACH_AFTER_POLLS:-0}" == 0 ]] && grep -qs '[[:space:]]ext4[[:space:]]' "${merged}/etc/fstab"; then
  in_root mount -a -t ext4 >> "${share}/log/boot.out" 2>&1 || true
fi
# A pool member's DATA_DIR, bind-mounted on itself (member-disk.sh).
if grep -qs '[[:space:]]none[[:space:]]bind[[:space:]]' "${merged}/etc/fstab"; then
  in_root mount -a -O bind >> "${share}/log/boot.out" 2>&1 || true
fi
status=0
while read -r action arg; do
  case "$action" in
    run)
      set +e
      in_root /bin/bash -c "$arg" >> "${share}/log/boot.out" 2>&1
      rc=$?
      set -e
      echo "$rc" >> "${share}/log/rc"
      if ((rc != 0 && status == 0)); then status=$rc; fi
      ;;
    grow)
      # The volume grows under the running host (ModifyVolume), and the kernel learns the new size.
      [[ -n "$loop" ]] || {
        echo "sandbox: no data volume to grow" >&2
        exit 91
      }
      truncate -s "${arg}M" "$WBT_IMAGE"
      losetup -c "$loop"
      ;;
    *)
      echo "sandbox: unknown step ${action}" >&2
      exit 91
      ;;
  esac
done < "${share}/steps"
exit "$status"
