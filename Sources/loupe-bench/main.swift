import LoupeIO
print("loupe-bench: benchmarks arrive with the tensor core")
