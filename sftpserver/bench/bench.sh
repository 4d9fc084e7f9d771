#!/usr/bin/env bash
# Upload throughput of muster's SFTP drop box against OpenSSH's own server.
#
# In one run, on loopback: a 200 MB CSV and a 1 GiB file are uploaded with
# OpenSSH's sftp client (default options) to muster's server and to an sshd
# this script starts with its own config, host key and authorized key, ROUNDS
# times, alternating which server goes first. sshd runs the sftp-server
# program as Debian's default config does (OPENSSH_SUBSYSTEM=internal-sftp
# runs the in-process one instead). Then
# 20 uploads of 50 MB run at once against muster, and every one must be
# announced with the right SHA-256. Prints each time, the ratios
# muster/OpenSSH, and their median and spread.
#
# Usage: sftpserver/bench/bench.sh            (ROUNDS=3 by default)
#        ROUNDS=5 KEEP=1 sftpserver/bench/bench.sh
#        OPENSSH_SUBSYSTEM=internal-sftp CONCURRENT=0 sftpserver/bench/bench.sh
#        MUSTER_CIPHERS=chacha20-poly1305@openssh.com sftpserver/bench/bench.sh
#          (offer muster's server other ciphers than its default list)
# Everything it makes goes to a temporary directory, removed at the end
# unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
CONCURRENT=${CONCURRENT:-20}
T=$(mktemp -d "${TMPDIR:-/tmp}/muster-sftp-bench.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is required" >&2; exit 1; }; }
need sftp; need ssh-keygen; need sha256sum; need go
SSHD=${SSHD:-/usr/sbin/sshd}
SUBSYSTEM=${OPENSSH_SUBSYSTEM:-}
if [ -z "$SUBSYSTEM" ]; then
  for p in /usr/lib/openssh/sftp-server /usr/libexec/sftp-server /usr/libexec/openssh/sftp-server; do
    [ -x "$p" ] && { SUBSYSTEM=$p; break; }
  done
  SUBSYSTEM=${SUBSYSTEM:-internal-sftp}
fi
[ -x "$SSHD" ] || { echo "bench: $SSHD not found (apt-get install openssh-server)" >&2; exit 1; }

echo "== preparing in $T"
go build -o "$T/musterbench" ./sftpserver/bench
ssh-keygen -q -t ed25519 -N "" -f "$T/client_key"
ssh-keygen -q -t ed25519 -N "" -f "$T/sshd_host_key"
cp "$T/client_key.pub" "$T/authorized_keys"

# Test data: a CSV shaped like an HR export, and random bytes.
awk 'BEGIN {
  srand(42); print "employee_id,email,first_name,last_name,department,job_title,manager_email,start_date,country"
  split("Engineering Sales Finance People Legal Operations Marketing Support", d, " ")
  while (n < 200000000) {
    i++; line = sprintf("E%07d,person%d@example.com,First%d,Last%d,%s,Title %d,manager%d@example.com,20%02d-%02d-%02d,GB", \
      i, i, i, i, d[1 + i % 8], i % 97, i % 5000, 10 + i % 15, 1 + i % 12, 1 + i % 28)
    print line; n += length(line) + 1
  }
}' > "$T/export.csv"
head -c 1073741824 /dev/urandom > "$T/big.bin"
head -c 52428800 /dev/urandom > "$T/fifty.bin"

# OpenSSH's server, as this user, on loopback, with its own everything.
mkdir -p "$T/sshd-in"
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
SSHD_PORT=$(free_port)
cat > "$T/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $T/sshd_host_key
AuthorizedKeysFile $T/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp $SUBSYSTEM
EOF
"$SSHD" -D -e -f "$T/sshd_config" -p "$SSHD_PORT" 2>"$T/sshd.log" &
SSHD_PID=$!
pids+=($SSHD_PID)

# muster's server.
"$T/musterbench" -dir "$T/muster" -key "$T/client_key.pub" -user bench ${MUSTER_CIPHERS:+-ciphers "$MUSTER_CIPHERS"} >"$T/muster.out" 2>"$T/muster.log" &
MUSTER_PID=$!
pids+=($MUSTER_PID)
for _ in $(seq 100); do grep -q '^listening' "$T/muster.out" 2>/dev/null && break; sleep 0.1; done
MUSTER_PORT=$(awk '/^listening/ { n = split($2, a, ":"); print a[n] }' "$T/muster.out")
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null && break; sleep 0.1; done

OPTS=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
      -o IdentitiesOnly=yes -o LogLevel=ERROR -i "$T/client_key")
ME=$(id -un)

# announced NAME SHA: waits until muster has announced that upload.
announced() {
  for _ in $(seq 600); do
    grep -q "^upload $1 [0-9]* $2\$" "$T/muster.out" && return 0
    sleep 0.1
  done
  echo "bench: $1 was not announced with sha256 $2" >&2; return 1
}

TCK=$(getconf CLK_TCK)
# cpu SERVER: CPU seconds used so far by muster's process, or by the
# finished sessions of sshd (their children's time, counted once reaped).
cpu() {
  if [ "$1" = muster ]; then awk -v t="$TCK" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$MUSTER_PID/stat"
  else awk -v t="$TCK" '{ printf "%.3f", ($16 + $17) / t }' "/proc/$SSHD_PID/stat"; fi
}

# put SERVER FILE NAME: uploads; prints the seconds it took and the CPU
# seconds the server used for it (muster: while the client ran, so not the
# hashing it does after answering; sshd: its session processes).
put() {
  local port dest start end c0 c1
  if [ "$1" = muster ]; then port=$MUSTER_PORT; dest=$3; user=bench
  else port=$SSHD_PORT; dest=$T/sshd-in/$3; user=$ME; fi
  printf 'put %s %s\n' "$2" "$dest" > "$T/batch"
  c0=$(cpu "$1"); start=$(date +%s.%N)
  sftp "${OPTS[@]}" -P "$port" -b "$T/batch" "$user@127.0.0.1" >/dev/null
  end=$(date +%s.%N)
  if [ "$1" != muster ]; then # wait until sshd has reaped the session
    for _ in $(seq 200); do [ -z "$(ps --ppid "$SSHD_PID" -o pid= 2>/dev/null)" ] && break; sleep 0.05; done
  fi
  c1=$(cpu "$1")
  echo "$(echo "$end - $start" | bc -l) $(echo "$c1 - $c0" | bc -l)"
}

# run SERVER FILE NAME: put, wait until the server is done with it (muster
# announces after syncing and hashing), then flush the page cache's dirty
# pages so the next run starts from the same state. Only put is measured.
run() {
  local r; r=$(put "$@")
  if [ "$1" = muster ]; then announced "$3" "$(sha256sum < "$2" | cut -d' ' -f1)"; fi
  sync
  echo "$r"
}

csv_sum=$(sha256sum < "$T/export.csv" | cut -d' ' -f1)
big_sum=$(sha256sum < "$T/big.bin" | cut -d' ' -f1)
printf '== %s rounds; sizes: export.csv %s bytes, big.bin %s bytes\n' "$ROUNDS" \
  "$(stat -c %s "$T/export.csv")" "$(stat -c %s "$T/big.bin")"
cipher() { ssh "${OPTS[@]}" -v -p "$1" -o "User=$2" 127.0.0.1 exit 2>&1 | awk '/kex: client->server cipher/ { print $5 "/" $7; exit }' || true; }
echo "OpenSSH subsystem: $SUBSYSTEM; $(ssh -V 2>&1)"
echo "negotiated (client->server cipher/mac): muster $(cipher "$MUSTER_PORT" bench), OpenSSH $(cipher "$SSHD_PORT" "$ME")"
printf '%-6s %-10s | %-28s | %s\n' "" "" "wall time" "server CPU"
printf '%-6s %-10s | %8s %8s %8s | %8s %8s %8s\n' round file muster openssh ratio muster openssh ratio
ratios_csv=(); ratios_big=(); cpu_csv=(); cpu_big=()
for r in $(seq "$ROUNDS"); do
  for f in export.csv big.bin; do
    name="r$r-$f"
    if [ $((r % 2)) = 1 ]; then m=$(run muster "$T/$f" "$name"); o=$(run openssh "$T/$f" "$name")
    else o=$(run openssh "$T/$f" "$name"); m=$(run muster "$T/$f" "$name"); fi
    read -r mt mc <<< "$m"; read -r ot oc <<< "$o"
    ratio=$(echo "$mt / $ot" | bc -l); cratio=$(echo "$mc / $oc" | bc -l)
    printf '%-6s %-10s | %7.2fs %7.2fs %7.2fx | %7.2fs %7.2fs %7.2fx\n' "$r" "$f" "$mt" "$ot" "$ratio" "$mc" "$oc" "$cratio"
    if [ "$f" = export.csv ]; then ratios_csv+=("$ratio"); cpu_csv+=("$cratio")
    else ratios_big+=("$ratio"); cpu_big+=("$cratio"); fi
  done
done
cmp -s "$T/export.csv" "$T/muster/home/default/bench/inbox/r1-export.csv" || { echo "bench: r1-export.csv differs" >&2; exit 1; }
[ "$csv_sum" ] && [ "$big_sum" ]

summary() { # LABEL TARGET RATIOS...
  local label=$1 target=$2; shift 2
  printf '%s\n' "$@" | sort -g | awk -v l="$label" -v t="$target" '
    { v[NR] = $1 } END {
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%-12s median %.2fx  (min %.2fx, max %.2fx, %d runs)", l, med, v[1], v[NR], NR
      if (t != "-") printf "  target <= %.1fx: %s", t, (med <= t ? "met" : "NOT met")
      printf "\n"
    }'
}
echo "== muster time / OpenSSH time (the targets)"
summary "200 MB CSV" 1.2 "${ratios_csv[@]}"
summary "1 GiB" 1.4 "${ratios_big[@]}"
echo "== muster CPU / OpenSSH CPU (steadier when other work shares the machine)"
summary "200 MB CSV" - "${cpu_csv[@]}"
summary "1 GiB" - "${cpu_big[@]}"

[ "$CONCURRENT" -gt 0 ] || exit 0
echo "== $CONCURRENT concurrent 50 MB uploads to muster"
sums=()
for i in $(seq "$CONCURRENT"); do
  { printf 'upload %d\n' "$i"; cat "$T/fifty.bin"; } > "$T/c$i.bin"
  sums+=("$(sha256sum < "$T/c$i.bin" | cut -d' ' -f1)")
done
start=$(date +%s.%N)
cpids=()
for i in $(seq "$CONCURRENT"); do
  printf 'put %s c%d.bin\n' "$T/c$i.bin" "$i" > "$T/batch$i"
  sftp "${OPTS[@]}" -P "$MUSTER_PORT" -b "$T/batch$i" "bench@127.0.0.1" >/dev/null &
  cpids+=($!)
done
failed=0
for p in "${cpids[@]}"; do wait "$p" || failed=$((failed + 1)); done
end=$(date +%s.%N)
for i in $(seq "$CONCURRENT"); do announced "c$i.bin" "${sums[$((i - 1))]}" || failed=$((failed + 1)); done
printf '%d uploads of %d bytes in %.2fs: ' "$CONCURRENT" "$(stat -c %s "$T/c1.bin")" "$(echo "$end - $start" | bc -l)"
if [ "$failed" = 0 ]; then echo "all committed intact (sha256 checked)"; else echo "$failed FAILED"; exit 1; fi
