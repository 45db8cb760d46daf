# Loop-heavy: 300,000 iterations of arithmetic, a branch and a list append, at top level.
items = []
total = 0
for i in range(300000):
    x = i * 3 + 1
    if x % 2 == 0:
        total = total + x
    else:
        items.append(x)
print(total, len(items))
