"""Times the Loupe interpreter against CPython on the same programs, side by side.

Usage: python3 Scripts/bench_language.py PATH/TO/loupe [runs]

Every Scripts/bench_language/NAME.loupe has a NAME.py twin doing the same work (call-heavy,
loop-heavy, record/list-heavy, string-interpolation-heavy). Each pair runs alternately `runs`
times (default 5) as whole processes, start-up included; both must print the same output. Prints
the median seconds of each and the time ratio Loupe / python3 (below 1: Loupe is faster).
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_language")


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, result.stdout


def main():
    loupe = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    names = sorted(name[:-6] for name in os.listdir(HERE) if name.endswith(".loupe"))
    print(f"{'script':<12} {'Loupe s':>9} {'python3 s':>10} {'time ratio':>11}")
    for name in names:
        ours, theirs = [], []
        for _ in range(runs):
            seconds, out_loupe = timed([loupe, os.path.join(HERE, name + ".loupe")])
            ours.append(seconds)
            seconds, out_python = timed([sys.executable, os.path.join(HERE, name + ".py")])
            theirs.append(seconds)
            if out_loupe.split() != out_python.split():
                sys.exit(f"{name}: Loupe printed {out_loupe!r}, python3 {out_python!r}")
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name:<12} {a:>9.3f} {b:>10.3f} {a / b:>10.2f}x")


if __name__ == "__main__":
    main()
