import Foundation
import LoupeTensor

/// The Fashion-MNIST data set (70,000 28x28 gray images of 10 clothing classes) read from the
/// gzipped IDX files of the `dataset-fashion-mnist` package. Loaded splits are cached in memory
/// for the life of the process.
public struct FashionMNIST: Sendable {
    /// Where the `dataset-fashion-mnist` package installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// The class names, indexed by label.
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// A split of the data set.
    public enum Split: String, Sendable, CaseIterable {
        case train
        case test

        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// Images [N, 1, 28, 28] in [0, 1] and labels [N] (float class indices).
    public struct Examples: @unchecked Sendable {
        public var images: Tensor
        public var labels: Tensor
        /// The number of examples.
        public var count: Int { labels.count }
    }

    /// The directory holding train-*/t10k-* files.
    public let directory: String

    /// Checks that `directory` exists, with a hint on how to install the data set when not.
    public init(directory: String = FashionMNIST.defaultDirectory) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LoupeError("fashion-mnist: directory '\(directory)' is missing; install the data set with `apt-get install dataset-fashion-mnist` (or run Scripts/setup)")
        }
        self.directory = directory
    }

    /// Loads a split by name, "train" or "test".
    public func load(_ split: String) throws -> Examples {
        guard let value = Split(rawValue: split) else {
            throw LoupeError("fashion-mnist: unknown split '\(split)' (use \"train\" or \"test\")")
        }
        return try load(value)
    }

    /// Loads a split (cached after the first load).
    public func load(_ split: Split) throws -> Examples {
        let key = directory + "|" + split.rawValue
        if let cached = FashionMNISTCache.shared.get(key) { return cached }
        let imagesPath = directory + "/\(split.filePrefix)-images-idx3-ubyte.gz"
        let labelsPath = directory + "/\(split.filePrefix)-labels-idx1-ubyte.gz"
        for path in [imagesPath, labelsPath] where !FileManager.default.fileExists(atPath: path) {
            throw LoupeError("fashion-mnist: '\(path)' is missing; install the data set with `apt-get install dataset-fashion-mnist` (or run Scripts/setup)")
        }
        let images = try IDX.readImages(path: imagesPath)
        let labels = try IDX.readLabels(path: labelsPath)
        guard images.shape[0] == labels.count else {
            throw LoupeError("fashion-mnist: '\(imagesPath)' holds \(images.shape[0]) images but '\(labelsPath)' holds \(labels.count) labels")
        }
        guard labels.scalars.allSatisfy({ $0 >= 0 && $0 < 10 }) else {
            throw LoupeError("fashion-mnist: '\(labelsPath)' holds labels outside 0...9")
        }
        let data = Examples(images: images, labels: labels)
        FashionMNISTCache.shared.set(key, data)
        return data
    }
}

/// Process-wide cache of loaded splits.
final class FashionMNISTCache: @unchecked Sendable {
    static let shared = FashionMNISTCache()
    private var entries: [String: FashionMNIST.Examples] = [:]
    private let lock = NSLock()

    func get(_ key: String) -> FashionMNIST.Examples? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func set(_ key: String, _ value: FashionMNIST.Examples) {
        lock.lock()
        defer { lock.unlock() }
        entries[key] = value
    }
}
