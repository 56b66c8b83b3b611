#!/usr/bin/env bash
# Whole-process kiosk benchmarks, under a private Xvfb at 1080×1920:
#
#   1. kiosk memory idle on Welcome (release build, software renderer):
#      PSS of the process from /proc/PID/smaps_rollup;          target ≤ 40 MiB
#   2. kiosk cold start to first interactive frame: from just before exec
#      to the kiosk's `first-frame-unix-ms` (BENCH_RUNS runs, p50 / max),
#      cross-checked from outside by another X client that records when the
#      window is mapped and when its content is first painted (X DAMAGE),
#      and once with `xdotool search --sync --onlyvisible`;    target ≤ 250 ms
#   3. the comparison: the same Welcome screen as a static web page in
#      Chromium --kiosk under the same Xvfb, PSS summed over all its
#      processes, and the ratio kiosk / Chromium;
#   4. clinic-server memory idle (the `demo` server the kiosk is enrolled
#      with): PSS.
#   5. kiosk memory idle on Welcome with speech mode on and the speech
#      engine (eSpeak NG) loaded: `[speech] always_speak = true` and
#      `device = "null"` (no sound card needed; audio paced like one),
#      measured once Welcome has been spoken;                  target ≤ 40 MiB
#
# It installs what it needs (Debian), builds release, starts everything on
# 127.0.0.1 and a private display, prints a markdown table, and stops every
# process it started, however it ends.
#
# Usage: scripts/bench-kiosk.sh
# Environment: BENCH_RUNS (cold-start runs, 12), BENCH_SETTLE_SECS (5),
# BENCH_SPEECH_SETTLE_SECS (40: Welcome is spoken first), BENCH_SHOTS_DIR
# (keep the two screenshots there), BENCH_NO_BUILD, BENCH_BIN_DIR (see
# below), BENCH_MEMORY_ONLY=1 (the two kiosk memory rows only: no cold
# start, no Chromium).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
repo=$(pwd)

runs=${BENCH_RUNS:-12}
settle=${BENCH_SETTLE_SECS:-5}

# ---------------------------------------------------------------- packages
# xvfb, xdotool, imagemagick: the display, window probing, a screenshot;
# chromium, fonts-liberation: the comparison row; the X11/fontconfig
# runtime libraries and a font package Slint needs; pkg-config and
# libfontconfig1-dev to build the Slint UI; procps for ps; python3-xlib for
# the outside view of the first paint.
apt_packages=(xvfb xdotool imagemagick chromium fonts-liberation fonts-dejavu-core
    libx11-6 libx11-xcb1 libxcursor1 libxi6 libxkbcommon-x11-0 libfontconfig1
    pkg-config libfontconfig1-dev procps python3-xlib)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench-kiosk: installing ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------- build
# BENCH_NO_BUILD=1 measures the binaries already in BENCH_BIN_DIR
# (target/release by default) without building.
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --bin kiosk --bin clinic-server >&2
bin_dir=${BENCH_BIN_DIR:-$repo/target/release}
kiosk_bin=$bin_dir/kiosk
server_bin=$bin_dir/clinic-server

# ---------------------------------------------------------------- cleanup
tmp=$(mktemp -d -t bench-kiosk.XXXXXX)
pids=()        # long-lived processes we started (Xvfb, the server)
groups=()      # process groups we started (Chromium and its children)
kiosk_pid=     # the kiosk currently running, if any
cleanup() {
    local p
    [ -z "$kiosk_pid" ] || pids+=("$kiosk_pid")
    for p in "${groups[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${groups[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_us() { echo "${EPOCHREALTIME/./}"; }

# PSS and RSS of one process, in KiB: "PSS RSS".
mem_of() {
    awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {print p+0, r+0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0"
}

# The process tree under $1 (itself included), plus every process in its
# session (Chromium's crashpad handler detaches from the tree).
tree_of() {
    local root=$1 sid
    sid=$(ps -o sid= -p "$root" | tr -d ' ')
    ps -e -o pid=,ppid=,sid= | awk -v root="$root" -v sid="$sid" '
        { pid[NR]=$1; ppid[NR]=$2; s[NR]=$3 }
        END {
            keep[root]=1
            do { changed=0
                 for (i=1;i<=NR;i++) if (!(pid[i] in keep) && ((ppid[i] in keep) || s[i]==sid)) { keep[pid[i]]=1; changed=1 }
            } while (changed)
            for (p in keep) print p
        }'
}

# Median and max of numbers on stdin: "median max count".
stats() {
    sort -n | awk '{v[NR]=$1} END { if (NR==0) {print "- - 0"; exit}
        m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[NR], NR }'
}

kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k/1024 }'; }

# Waits up to $2 seconds for file $1 to contain a line matching $3.
wait_for_line() {
    local file=$1 secs=$2 pattern=$3 i
    for ((i = 0; i < secs * 100; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.01
    done
    return 1
}

# ---------------------------------------------------------------- Xvfb
display_num=
for n in $(seq 90 140); do
    if [ ! -e "/tmp/.X11-unix/X$n" ] && [ ! -e "/tmp/.X$n-lock" ]; then display_num=$n; break; fi
done
[ -n "$display_num" ] || { echo "no free X display number" >&2; exit 1; }
Xvfb ":$display_num" -screen 0 1080x1920x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=":$display_num"
for _ in $(seq 1 500); do
    xdotool getdisplaygeometry >/dev/null 2>&1 && break
    sleep 0.02
done
xdotool getdisplaygeometry >/dev/null 2>&1 || { echo "Xvfb did not start" >&2; cat "$tmp/xvfb.log" >&2; exit 1; }

# ---------------------------------------------------------------- clinic server
"$server_bin" demo --port 0 --data-dir "$tmp/server" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
pids+=("$server_pid")
wait_for_line "$tmp/server.out" 60 '^listening:' || { echo "clinic-server did not start" >&2; cat "$tmp/server.err" >&2; exit 1; }
server_url=$(sed -n 's/^listening: //p' "$tmp/server.out")
code=$(sed -n 's/^enrollment code: //p' "$tmp/server.out")

# ---------------------------------------------------------------- kiosk config, enrollment
mkdir -m 700 "$tmp/kiosk"
cat >"$tmp/kiosk.toml" <<EOF
[kiosk]
name = "Bench kiosk"
data_dir = "$tmp/kiosk"
fullscreen = false

[server]
url = "$server_url"

[display]
backend = "winit-software"
width = 1080
height = 1920
EOF
"$kiosk_bin" enroll --server "$server_url" --code "$code" --config "$tmp/kiosk.toml" >"$tmp/enroll.out"

export SLINT_BACKEND=winit-software
export CHECKIN_KIOSK_REPORT_FIRST_FRAME=1
export RUST_LOG=warn

# Starts the kiosk in the background; sets kiosk_pid and writes the
# microsecond time just before exec to $1.start.
start_kiosk() {
    local tag=$1
    (
        echo "$(now_us)" >"$tmp/$tag.start"
        exec "$kiosk_bin" run --config "$tmp/kiosk.toml" >"$tmp/$tag.out" 2>"$tmp/$tag.err"
    ) &
    kiosk_pid=$!
}

stop_kiosk() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.02; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    kiosk_pid=
}

# Starts the kiosk as $1 and waits for its first frame; retries twice if it
# exits without one (the error goes to stderr).
start_until_frame() {
    local tag=$1 try
    for try in 1 2 3; do
        start_kiosk "$tag"
        for _ in $(seq 1 3000); do
            grep -q 'first-frame-unix-ms' "$tmp/$tag.err" 2>/dev/null && return 0
            kill -0 "$kiosk_pid" 2>/dev/null || break
            sleep 0.01
        done
        echo "kiosk run $tag (try $try) showed no frame: $(cat "$tmp/$tag.err")" >&2
        stop_kiosk "$kiosk_pid"
        sleep 1
    done
    return 1
}

first_frame_ms() { # tag -> ms from exec to first frame
    local start ff
    start=$(cat "$tmp/$1.start")
    ff=$(sed -n 's/^first-frame-unix-ms: //p' "$tmp/$1.err" | head -1)
    echo $(( ff - start / 1000 ))
}

cat >"$tmp/xwatch.py" <<'PYEOF'
# Watches a private X display for the first large top-level window to appear and
# prints, as Unix microseconds, when it was mapped and when its content was
# first painted (a DAMAGE report after which sampled rows of the window are
# no longer a single colour). Exits after that, or after a timeout.
import sys, time
from Xlib import X, display
from Xlib.ext import damage

def now_us():
    return int(time.time() * 1_000_000)

timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
d = display.Display()
if not d.has_extension("DAMAGE"):
    print("error: the X server has no DAMAGE extension", flush=True); sys.exit(2)
d.damage_query_version()
root = d.screen().root
root.change_attributes(event_mask=X.SubstructureNotifyMask)
d.sync()
print("ready", flush=True)

win = None; mapped = None; painted = None; dmg = None
deadline = time.time() + timeout

def painted_now(w):
    try:
        g = w.get_geometry()
    except Exception:
        return False
    for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
        y = int(g.height * frac)
        try:
            img = w.get_image(0, y, g.width, 1, X.ZPixmap, 0xFFFFFFFF)
        except Exception:
            return False
        data = img.data
        px = {bytes(data[i:i + 4]) for i in range(0, len(data), 4)}
        if len(px) > 1:
            return True
    return False

while time.time() < deadline and painted is None:
    if d.pending_events() == 0:
        time.sleep(0.0005)
        continue
    ev = d.next_event()
    t = now_us()
    if ev.type == X.MapNotify and mapped is None and not ev.override:
        try:
            big = ev.window.get_geometry().width >= 400
        except Exception:
            big = False
        if big:
            win = ev.window
            mapped = t
            dmg = win.damage_create(damage.DamageReportNonEmpty)
            d.sync()
            if painted_now(win):
                painted = now_us()
    elif win is not None and type(ev).__name__ == "DamageNotify":
        d.damage_subtract(dmg, 0, 0)
        if painted_now(win):
            painted = t

print(f"map-unix-us: {mapped or 0}")
print(f"painted-unix-us: {painted or 0}", flush=True)
PYEOF

# ---------------------------------------------------------------- 1. idle memory
start_until_frame idle || exit 1
sleep "$settle"
kiosk_samples=()
for _ in 1 2 3 4 5; do kiosk_samples+=("$(mem_of "$kiosk_pid")"); sleep 1; done
kiosk_pss=$(printf '%s\n' "${kiosk_samples[@]}" | awk '{print $1}' | stats | cut -d' ' -f1)
kiosk_rss=$(printf '%s\n' "${kiosk_samples[@]}" | awk '{print $2}' | stats | cut -d' ' -f1)
kiosk_threads=$(ls "/proc/$kiosk_pid/task" | wc -l)
import -window root "$tmp/kiosk-welcome.png" 2>/dev/null || true
server_mem=$(mem_of "$server_pid")
stop_kiosk "$kiosk_pid"

# ---------------------------------------------------------------- 5. idle memory, speech on
# The same kiosk and data directory, speaking every session from Welcome
# with the engine loaded; audio goes to the null sink at a sound card's
# pace, so no sound card is needed.
cp "$tmp/kiosk.toml" "$tmp/kiosk.toml.plain"
printf '\n[speech]\nalways_speak = true\ndevice = "null"\nroute = "private"\n' >>"$tmp/kiosk.toml"
start_until_frame speech || exit 1
sleep "${BENCH_SPEECH_SETTLE_SECS:-40}"
speech_samples=()
for _ in 1 2 3 4 5; do speech_samples+=("$(mem_of "$kiosk_pid")"); sleep 1; done
speech_pss=$(printf '%s\n' "${speech_samples[@]}" | awk '{print $1}' | stats | cut -d' ' -f1)
speech_rss=$(printf '%s\n' "${speech_samples[@]}" | awk '{print $2}' | stats | cut -d' ' -f1)
speech_threads=$(ls "/proc/$kiosk_pid/task" | wc -l)
speech_engine=$(grep -c 'libespeak-ng' "/proc/$kiosk_pid/maps" || true)
stop_kiosk "$kiosk_pid"
mv "$tmp/kiosk.toml.plain" "$tmp/kiosk.toml"

if [ -n "${BENCH_MEMORY_ONLY:-}" ]; then
    echo
    echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $kiosk_bin, $(stat -c %s "$kiosk_bin") bytes"
    echo
    echo "| metric | target | measured |"
    echo "|---|---|---|"
    echo "| kiosk memory idle on Welcome, speech off, PSS (median of 5 samples after ${settle} s) | ≤ 40 MiB | $(kib_to_mib "$kiosk_pss") MiB (RSS $(kib_to_mib "$kiosk_rss") MiB, $kiosk_threads threads) |"
    echo "| kiosk memory idle on Welcome, speech mode on, engine loaded, PSS (median of 5 after ${BENCH_SPEECH_SETTLE_SECS:-40} s) | ≤ 40 MiB | $(kib_to_mib "$speech_pss") MiB (RSS $(kib_to_mib "$speech_rss") MiB, $speech_threads threads; libespeak-ng mappings: $speech_engine) |"
    exit 0
fi

# ---------------------------------------------------------------- 2. cold start
: >"$tmp/ff.txt"
for i in $(seq 1 "$runs"); do
    start_until_frame "cold$i" || exit 1
    first_frame_ms "cold$i" >>"$tmp/ff.txt"
    stop_kiosk "$kiosk_pid"
    sleep 0.3
done
read -r ff_p50 ff_max ff_n < <(stats <"$tmp/ff.txt")

# The outside view, from another X client (python3-xlib, event driven, no
# polling): when the kiosk's window is mapped, and when its content is first
# painted: the first DAMAGE report after which rows sampled across the
# window are no longer one colour. Separate runs, so the watcher's reads do
# not slow the runs above.
: >"$tmp/map.txt"
: >"$tmp/paint.txt"
: >"$tmp/ff2.txt"
for i in $(seq 1 "$runs"); do
    /usr/bin/python3 "$tmp/xwatch.py" 60 >"$tmp/watch$i.out" 2>"$tmp/watch$i.err" &
    watcher=$!
    wait_for_line "$tmp/watch$i.out" 30 '^ready' || { echo "the X watcher did not start" >&2; cat "$tmp/watch$i.err" >&2; exit 1; }
    start_kiosk "map$i"
    wait "$watcher" || true
    start=$(cat "$tmp/map$i.start")
    mapped=$(sed -n 's/^map-unix-us: //p' "$tmp/watch$i.out")
    painted=$(sed -n 's/^painted-unix-us: //p' "$tmp/watch$i.out")
    if [ "${mapped:-0}" -gt 0 ] && [ "${painted:-0}" -gt 0 ]; then
        echo $(( (mapped - start) / 1000 )) >>"$tmp/map.txt"
        echo $(( (painted - start) / 1000 )) >>"$tmp/paint.txt"
    else
        echo "run $i: the watcher saw no painted window" >&2; cat "$tmp/watch$i.err" "$tmp/map$i.err" >&2
    fi
    wait_for_line "$tmp/map$i.err" 30 'first-frame-unix-ms' && first_frame_ms "map$i" >>"$tmp/ff2.txt"
    stop_kiosk "$kiosk_pid"
    sleep 0.3
done
read -r map_p50 map_max map_n < <(stats <"$tmp/map.txt")
read -r paint_p50 paint_max paint_n < <(stats <"$tmp/paint.txt")
read -r ff2_p50 ff2_max ff2_n < <(stats <"$tmp/ff2.txt")
# `xdotool search --sync --onlyvisible`, once: it finds the same window, but
# it sleeps 0.5 s between searches, too coarse to time a start-up with.
start_kiosk sync
sync_t0=$(now_us)
sync_win=$(timeout 30 xdotool search --sync --onlyvisible --pid "$kiosk_pid" 2>/dev/null | head -1 || true)
sync_ms=$(( ($(now_us) - sync_t0) / 1000 ))
stop_kiosk "$kiosk_pid"

# ---------------------------------------------------------------- 3. Chromium
# A faithful static copy of Welcome: same font files, sizes, colours,
# spacing and layout as ui/app.slint, ui/views/welcome_view.slint and the
# widgets, with the demo clinic's name.
mkdir -p "$tmp/web"
cp ui/fonts/AtkinsonHyperlegible-Regular.ttf ui/fonts/AtkinsonHyperlegible-Bold.ttf "$tmp/web/"
cat >"$tmp/web/welcome.html" <<'EOF'
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Patient check-in</title>
<style>
@font-face { font-family: "Atkinson Hyperlegible"; font-weight: 400; src: url("AtkinsonHyperlegible-Regular.ttf") format("truetype"); }
@font-face { font-family: "Atkinson Hyperlegible"; font-weight: 700; src: url("AtkinsonHyperlegible-Bold.ttf") format("truetype"); }
* { box-sizing: border-box; margin: 0; }
html, body { height: 100%; }
body { background: #F3F5F9; color: #14213D; font-family: "Atkinson Hyperlegible", sans-serif; font-size: 34px; overflow: hidden; }
.column { width: min(100%, 1040px); height: 100%; margin: 0 auto; padding: 24px 40px 40px; display: flex; flex-direction: column; gap: 24px; }
.top { display: flex; gap: 24px; align-items: stretch; }
.status { flex: 1; display: flex; justify-content: flex-end; align-items: center; gap: 8px; }
.dot { width: 28px; height: 28px; border-radius: 50%; border: 3px solid #0F5A2E; background: #0F5A2E; }
button { font-family: inherit; font-weight: 700; cursor: pointer; }
.lang { min-width: 176px; min-height: 88px; border-radius: 20px; border: 3px solid #5A6478; background: #FFFFFF; color: #14213D; font-size: 34px; }
.help { min-width: 264px; min-height: 88px; border-radius: 20px; border: 3px solid #9B1C1C; background: #FFFFFF; color: #9B1C1C; font-size: 40px; padding: 0 24px; display: flex; gap: 16px; align-items: center; justify-content: center; }
.content { flex: 1; display: flex; flex-direction: column; justify-content: center; gap: 56px; text-align: center; }
h1 { font-size: 72px; font-weight: 700; }
h2 { font-size: 56px; font-weight: 700; }
p { font-size: 34px; }
.card { background: #FFFFFF; border: 1px solid #5A6478; border-radius: 20px; padding: 40px; display: flex; flex-direction: column; gap: 24px; }
.big { min-height: 112px; border: 0; border-radius: 20px; background: #0B3B8C; color: #FFFFFF; font-size: 40px; padding: 0 24px; }
.big:active { background: #072A66; }
</style>
</head>
<body>
<div class="column">
  <div class="top">
    <div class="status" role="status" aria-label="Online"><div class="dot"></div></div>
    <button class="lang">Español</button>
    <button class="help"><span aria-hidden="true">?</span><span>I need help</span></button>
  </div>
  <div class="content">
    <h1>Welcome to Demo Family Clinic</h1>
    <p>Check in for your appointment here.</p>
    <div class="card">
      <h2>Scan your check-in code</h2>
      <p>Hold the code from your text or email under the scanner.</p>
    </div>
    <p>or</p>
    <button class="big">Use my date of birth</button>
  </div>
</div>
</body>
</html>
EOF
chromium_bin=$(command -v chromium)
setsid "$chromium_bin" --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --user-data-dir="$tmp/chromium-profile" \
    --window-size=1080,1920 --kiosk "file://$tmp/web/welcome.html" \
    >"$tmp/chromium.out" 2>"$tmp/chromium.err" &
chromium_pid=$!
groups+=("$chromium_pid")
for _ in $(seq 1 600); do
    xdotool search --onlyvisible --class chromium >/dev/null 2>&1 && break
    sleep 0.05
done
xdotool search --onlyvisible --class chromium >/dev/null 2>&1 || { echo "Chromium showed no window" >&2; tail -20 "$tmp/chromium.err" >&2; exit 1; }
sleep $(( settle + 5 ))
chromium_samples=()
for _ in 1 2 3 4 5; do
    total=0; rtotal=0; nproc_c=0
    for p in $(tree_of "$chromium_pid"); do
        read -r pss rss < <(mem_of "$p")
        total=$(( total + pss )); rtotal=$(( rtotal + rss )); nproc_c=$(( nproc_c + 1 ))
    done
    chromium_samples+=("$total $rtotal $nproc_c")
    sleep 1
done
chromium_pss=$(printf '%s\n' "${chromium_samples[@]}" | awk '{print $1}' | stats | cut -d' ' -f1)
chromium_rss=$(printf '%s\n' "${chromium_samples[@]}" | awk '{print $2}' | stats | cut -d' ' -f1)
chromium_procs=$(printf '%s\n' "${chromium_samples[@]}" | tail -1 | awk '{print $3}')
chromium_list=$(for p in $(tree_of "$chromium_pid"); do
    printf '%s(%s) ' "$(ps -o comm= -p "$p" 2>/dev/null)" "$(mem_of "$p" | awk '{printf "%.1f", $1/1024}')"; done)
import -window root "$tmp/chromium-welcome.png" 2>/dev/null || true
if [ -n "${BENCH_SHOTS_DIR:-}" ]; then
    mkdir -p "$BENCH_SHOTS_DIR"
    cp "$tmp/kiosk-welcome.png" "$tmp/chromium-welcome.png" "$BENCH_SHOTS_DIR/" 2>/dev/null || true
fi
kill -TERM -- "-$chromium_pid" 2>/dev/null || true

ratio=$(awk -v k="$kiosk_pss" -v c="$chromium_pss" 'BEGIN { printf "%.3f (Chromium is %.1f× the kiosk)", k/c, c/k }')
read -r server_pss server_rss <<<"$server_mem"

# ---------------------------------------------------------------- report
echo
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); Xvfb :$display_num 1080x1920x24; SLINT_BACKEND=winit-software"
echo
echo "| metric | target | measured |"
echo "|---|---|---|"
echo "| kiosk memory idle on Welcome, PSS (median of 5 samples after ${settle} s) | ≤ 40 MiB | $(kib_to_mib "$kiosk_pss") MiB (RSS $(kib_to_mib "$kiosk_rss") MiB, $kiosk_threads threads) |"
echo "| kiosk cold start: exec → first-frame-unix-ms, p50 / max of $ff_n runs | ≤ 250 ms | $ff_p50 ms / $ff_max ms |"
echo "| kiosk cold start, outside view: exec → window content first painted (X DAMAGE), p50 / max of $paint_n runs | ≤ 250 ms | $paint_p50 ms / $paint_max ms (mapped: $map_p50 / $map_max ms; first-frame-unix-ms in the same runs: $ff2_p50 / $ff2_max ms) |"
echo "| \`xdotool search --sync --onlyvisible\` from just after exec (0.5 s poll) | — | ${sync_ms} ms, window ${sync_win:-none} |"
echo "| the same Welcome as a static page in Chromium --kiosk, PSS summed over $chromium_procs processes | comparison | $(kib_to_mib "$chromium_pss") MiB (RSS sum $(kib_to_mib "$chromium_rss") MiB) |"
echo "| ratio kiosk / Chromium (PSS) | report | $ratio |"
echo "| clinic-server (demo clinic, one kiosk enrolled) idle, PSS | report | $(kib_to_mib "$server_pss") MiB (RSS $(kib_to_mib "$server_rss") MiB) |"
echo "| kiosk memory idle on Welcome, speech mode on, engine loaded, PSS (median of 5 after ${BENCH_SPEECH_SETTLE_SECS:-40} s) | ≤ 40 MiB | $(kib_to_mib "$speech_pss") MiB (RSS $(kib_to_mib "$speech_rss") MiB, $speech_threads threads; libespeak-ng mappings: $speech_engine) |"
echo
echo "cold-start runs (ms): $(tr '\n' ' ' <"$tmp/ff.txt")"
echo "outside view, mapped (ms): $(tr '\n' ' ' <"$tmp/map.txt")"
echo "outside view, painted (ms): $(tr '\n' ' ' <"$tmp/paint.txt")"
echo "first-frame-unix-ms in those runs (ms): $(tr '\n' ' ' <"$tmp/ff2.txt")"
echo "Chromium processes (PSS MiB): $chromium_list"
