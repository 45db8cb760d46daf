@_exported import LoupeModels
