"""Times the loupe REPL from launch to its first prompt under a pseudo-terminal.

Usage: python3 Scripts/bench_startup.py PATH/TO/loupe [runs]
Prints the best and median of `runs` launches (default 10) in milliseconds.
"""
import os
import pty
import select
import statistics
import sys
import tempfile
import time


def time_to_prompt(binary, home):
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["HOME"] = home
        os.execv(binary, [binary])
    seen = b""
    deadline = start + 10
    elapsed = None
    while time.perf_counter() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
        if b"[1]> " in seen:
            elapsed = time.perf_counter() - start
            break
    # Ctrl-D typed in the instant between the prompt and libedit's switch to raw mode can be
    # swallowed by the terminal's line discipline, so repeat it until the REPL exits.
    for _ in range(50):
        os.write(fd, b"\x04")
        time.sleep(0.05)
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            break
        while select.select([fd], [], [], 0)[0]:
            try:
                os.read(fd, 4096)
            except OSError:
                break
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    os.close(fd)
    if elapsed is None:
        raise SystemExit(f"bench_startup: no prompt from {binary}; output: {seen[-200:]!r}")
    return elapsed


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with tempfile.TemporaryDirectory() as home:
        times = [time_to_prompt(binary, home) * 1000 for _ in range(runs)]
    print(f"REPL start to prompt: best {min(times):.0f} ms, median {statistics.median(times):.0f} ms "
          f"({runs} launches; aim < 100 ms)")


if __name__ == "__main__":
    main()
