#!/usr/bin/env python3
"""Runs one libFuzzer command until its coverage plateaus, for fuzz/run.sh.

libFuzzer has no notion of "done": it stops after -max_total_time whether coverage is
still climbing or flat since the first minute. pullwatch's plateau rule (fuzz/RESULTS.md)
is a run of at least MIN seconds of CPU time whose second half added less than GROWTH
percent of edges (libFuzzer's `cov:`). This wrapper reads the fuzzer's output as it comes, stamps
each coverage figure with the time it arrived, checks the rule every few seconds and, once
it holds, interrupts the fuzzer (SIGINT: libFuzzer prints its final stats and exits).
The run's -max_total_time stays the cap for targets that never settle.

    plateau.py LOG MIN_SECONDS GROWTH_PERCENT -- cargo fuzz run ...

The fuzzer's output goes to LOG unchanged; one summary line goes to stdout:
    plateau <reached|not-reached> after <s> CPU s (counted from INITED): cov <start> -> <half> -> <end> (+<g>% in the second half), exit <code>
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

# "#1234\tNEW    cov: 567 ..." from one fuzzer; "#1234: cov: 567 ..." from the parent of
# -fork=N jobs, which has no INITED line: it says "starting to fuzz" once its corpus is read.
COV = re.compile(rb"^#(\d+)(?::|\s+(\S+)).*?\bcov: (\d+)")
FORK_STARTED = re.compile(rb"^INFO: -fork=\d+: .*starting to fuzz")


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(session):
    """CPU time (user + system) used so far by every process of the fuzzer's session.

    The rule is judged on CPU time, not wall time: on a shared machine a niced fuzzer
    gets a varying share of a core, and a half spent waiting would look like a plateau.
    A live process's own time counts, and so does that of the children it has reaped:
    under -fork=N the fuzzing happens in short-lived job processes, gone by the next check.
    """
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the parenthesized command name; session is field 6, utime/stime
        # 14/15, cutime/cstime (reaped children) 16/17.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 14 and int(fields[3]) == session:
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def cov_at(points, t):
    """The coverage last reported at or before t seconds (the first figure if none)."""
    best = points[0][1]
    for at, cov in points:
        if at > t:
            break
        best = cov
    return best


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit(__doc__)
    log_path, min_secs, growth = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    cmd = sys.argv[5:]
    points = []  # (seconds since start, cov), in arrival order
    lock = threading.Lock()
    began = [None]  # the session's CPU seconds when the fuzzer reported INITED
    last_cpu = [0.0]  # CPU seconds since INITED at the last check (the session is gone at the end)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )

    def read():
        with open(log_path, "wb") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if FORK_STARTED.match(line):
                    with lock:
                        began[0] = cpu_seconds(proc.pid)
                    continue
                m = COV.match(line)
                if not m:
                    continue
                with lock:
                    # The clock starts when the corpus is loaded (INITED): reading a
                    # large corpus back is not fuzzing.
                    if m.group(2) == b"INITED":
                        began[0] = cpu_seconds(proc.pid)
                    if began[0] is not None:
                        points.append((cpu_seconds(proc.pid) - began[0], int(m.group(3))))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reached = False
    while proc.poll() is None:
        time.sleep(5)
        with lock:
            if began[0] is None or not points:
                continue
            now = cpu_seconds(proc.pid) - began[0]
            last_cpu[0] = now
            if now < min_secs:
                continue
            end, half = points[-1][1], cov_at(points, now / 2)
        if end > 0 and (end - half) * 100.0 / end < growth:
            reached = True
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            break
    code = proc.wait()
    reader.join()
    elapsed = max(last_cpu[0], points[-1][0] if points else 0.0)
    if not points:
        print(f"plateau not-reached after {elapsed:.0f} CPU s: no coverage figures, exit {code}")
        return code
    first, end = points[0][1], points[-1][1]
    half = cov_at(points, elapsed / 2)
    pct = (end - half) * 100.0 / end if end else 0.0
    state = "reached" if reached or (elapsed >= min_secs and pct < growth) else "not-reached"
    print(
        f"plateau {state} after {elapsed:.0f} CPU s: cov {first} -> {half} -> {end} "
        f"(+{pct:.2f}% in the second half), exit {code}"
    )
    # After the interrupt the exit status is the wrapper's own doing (cargo-fuzz dies of
    # the SIGINT); a finding stops the fuzzer before the rule can hold.
    return 0 if reached else code


if __name__ == "__main__":
    sys.exit(main())
