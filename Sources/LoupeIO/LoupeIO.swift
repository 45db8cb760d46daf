@_exported import LoupeTensor
