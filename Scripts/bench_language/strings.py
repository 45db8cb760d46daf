# String-interpolation-heavy: 100,000 interpolated strings, joined.
parts = []
for i in range(100000):
    parts.append(f"item {i}: {i * 2} of {len(parts)}")
print(len(",".join(parts)))
