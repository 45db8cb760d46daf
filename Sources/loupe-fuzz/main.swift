import LoupeScript
print("loupe-fuzz: fuzz targets arrive with the file formats")
