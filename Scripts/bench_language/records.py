# Record- and list-heavy: build 100,000 records in a list, then read their fields in a function.
points = []
for i in range(100000):
    points.append({"x": i, "y": i * 2, "label": "p"})
def total_of(points):
    total = 0
    for p in points:
        total = total + p["x"] + p["y"]
    return total
print(total_of(points), points[5]["label"])
