@_exported import LoupeIO
