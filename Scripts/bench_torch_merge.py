"""Merges Scripts/bench_torch.py results taken under several OpenMP wait policies into one file
for loupe-bench, keeping each row's faster figure (lower ms and MB; higher GFLOPS, GB/s, img/s), and
prints every row's figure under each policy to stderr, so a report can give both.

    python3 Scripts/bench_torch_merge.py OUT.json PASSIVE.json ACTIVE.json ...
"""
import json
import sys

LOWER_IS_BETTER = {"ms", "MB"}


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out, sources = sys.argv[1], sys.argv[2:]
    results = [json.load(open(path)) for path in sources]
    merged = {"torch": results[0].get("torch"), "threads": results[0].get("threads"),
              "omp_wait_policy": "faster of " + ", ".join(r.get("omp_wait_policy", "?") for r in results), "rows": {}}
    names = []
    for result in results:
        names += [n for n in result["rows"] if n not in names]
    print("PyTorch by OpenMP wait policy (the faster figure is used):", file=sys.stderr)
    for name in names:
        figures = [(r.get("omp_wait_policy", "?"), r["rows"][name]) for r in results if name in r["rows"]]
        unit = figures[0][1]["unit"]
        pick = min if unit in LOWER_IS_BETTER else max
        best = pick(figures, key=lambda f: f[1]["value"])
        merged["rows"][name] = best[1]
        shown = ", ".join(f"{policy} {row['value']:.4g}" for policy, row in figures)
        print(f"  {name}: {shown} {unit}", file=sys.stderr)
    with open(out, "w") as f:
        json.dump(merged, f, indent=1)


if __name__ == "__main__":
    main()
