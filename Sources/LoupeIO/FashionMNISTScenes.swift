import LoupeTensor

/// Object-detection scenes built from Fashion-MNIST: each scene is an RGB canvas (black
/// background) holding 1 to 4 garments, each a Fashion-MNIST image resized to a random square
/// size, tinted with a random colour and placed at a random position, with its class and a tight
/// box.
///
/// Scene `i` of a split is a function of (split, i, size) alone: it is drawn by a generator keyed
/// by the split and the index, so scene 17 is the same whether 20 or 1,000 scenes are asked for,
/// and on every machine. Train scenes take their garments from the train images, test scenes from
/// the test images.
///
/// A garment is resized from 28x28 to `side` x `side` (bilinear, antialiased when shrinking);
/// its pixels of intensity below `inkThreshold` are left out, and the others are drawn as the
/// tint times the intensity, over the garments drawn before. Placements are redrawn (up to a few
/// attempts, after which the scene keeps fewer garments) until the new garment's box has an IoU of
/// at most `maximumIoU` with every earlier box and every earlier garment keeps at least
/// `minimumVisibleFraction` of its pixels in view. Boxes are tight around each garment's visible
/// pixels, in the DETR/COCO convention `[x0, y0, x1, y1]` with `x1` and `y1` one past the last
/// column and row.
public struct FashionMNISTScenes: @unchecked Sendable {
    /// A box in whole pixels: columns `x0..<x1` and rows `y0..<y1`.
    public struct PixelBox: Equatable, Sendable {
        public var x0: Int
        public var y0: Int
        public var x1: Int
        public var y1: Int

        /// Creates a box from its first column and row and one past its last.
        public init(x0: Int, y0: Int, x1: Int, y1: Int) {
            self.x0 = x0
            self.y0 = y0
            self.x1 = x1
            self.y1 = y1
        }

        /// The number of pixels inside (0 for an empty box).
        public var area: Int { max(0, x1 - x0) * max(0, y1 - y0) }

        /// Intersection over union with `other` (0 when both are empty).
        public func intersectionOverUnion(with other: PixelBox) -> Float {
            let w = min(x1, other.x1) - max(x0, other.x0), h = min(y1, other.y1) - max(y0, other.y0)
            let intersection = max(0, w) * max(0, h)
            let union = area + other.area - intersection
            return union > 0 ? Float(intersection) / Float(union) : 0
        }

        /// The coordinates as floats, `[x0, y0, x1, y1]`.
        public var coordinates: [Float] { [Float(x0), Float(y0), Float(x1), Float(y1)] }
    }

    /// A garment of a scene.
    public struct Object: Equatable, Sendable {
        /// The Fashion-MNIST class, an index into `FashionMNIST.classNames`.
        public var label: Int
        /// The tight box around the garment's visible pixels.
        public var box: PixelBox
        /// The index in the split of the image the garment was drawn from.
        public var sourceIndex: Int
        /// The RGB tint in [0, 1] the garment's intensities were multiplied by.
        public var tint: SIMD3<Float>
    }

    /// A run of consecutive scenes.
    public struct Batch: @unchecked Sendable {
        /// The scenes' images [N, 3, size, size] in [0, 1].
        public var images: Tensor
        /// The garments of each scene, in drawing order (later ones drawn over earlier ones).
        public var objects: [[Object]]
        /// The index of the first scene.
        public var start: Int
        /// The number of scenes.
        public var count: Int { objects.count }
    }

    /// The canvas side used when none is given.
    public static let defaultSize = 96
    /// The canvas sides accepted.
    public static let sizes = 32...1024
    /// The most garments in a scene.
    public static let maximumObjects = 4
    /// The largest IoU between a new garment's box and an earlier one's.
    public static let maximumIoU: Float = 0.3
    /// The smallest share of its pixels each garment keeps in view when later ones are drawn.
    public static let minimumVisibleFraction: Float = 0.5
    /// Resized intensities below this are not drawn (they are the faint fringe of the resampling).
    public static let inkThreshold: Float = 0.05
    /// How often a garment's draw is retried before the scene keeps the garments it has.
    static let attempts = 24

    /// The split the garments come from.
    public let split: FashionMNIST.Split
    /// The canvas side in pixels.
    public let size: Int
    /// The sides garments are resized to: `size * 20 / 96` to `size / 2` (20 to 48 at 96).
    public let garmentSides: ClosedRange<Int>
    private let source: FashionMNIST.Examples
    private let labels: [Int]
    /// Resampling taps from 28 pixels to each garment side, by `side - garmentSides.lowerBound`.
    private let taps: [Images.Taps]
    private let sourceSide: Int

    /// Scenes of `size` x `size` pixels whose garments come from `split` of the data set at
    /// `directory` (loaded, or taken from the process's cache).
    public init(split: FashionMNIST.Split, size: Int = FashionMNISTScenes.defaultSize,
                directory: String = FashionMNIST.defaultDirectory) throws {
        guard Self.sizes.contains(size) else {
            throw LoupeError("fashion-mnist-scenes: size \(size) is outside \(Self.sizes.lowerBound)...\(Self.sizes.upperBound)")
        }
        let examples = try FashionMNIST(directory: directory).load(split)
        guard examples.images.rank == 4, examples.images.shape[1] == 1, examples.images.shape[2] == examples.images.shape[3],
              examples.count > 0 else {
            throw LoupeError("fashion-mnist-scenes: expected gray square images [N, 1, S, S], got \(describe(shape: examples.images.shape))")
        }
        self.split = split
        self.size = size
        source = examples
        labels = examples.labels.scalars.map { Int($0) }
        sourceSide = examples.images.shape[2]
        let smallest = max(6, Int((Double(size) * 20 / 96).rounded()))
        garmentSides = smallest...max(smallest, size / 2)
        taps = garmentSides.map { Images.Taps(input: examples.images.shape[2], output: $0, mode: .bilinear, antialias: true) }
    }

    /// Scene `index` alone: its image [3, size, size] and its garments.
    public func scene(_ index: Int) throws -> (image: Tensor, objects: [Object]) {
        guard index >= 0, index < Int.max else {
            throw LoupeError("fashion-mnist-scenes: scene index \(index) must be non-negative")
        }
        let batch = try scenes(index..<(index + 1))
        return (try batch.images.reshaped(Array(batch.images.shape.dropFirst())), batch.objects[0])
    }

    /// The scenes of `indices`, rendered on all cores.
    public func scenes(_ indices: Range<Int>) throws -> Batch {
        guard indices.lowerBound >= 0 else {
            throw LoupeError("fashion-mnist-scenes: scene indices \(indices) must be non-negative")
        }
        let count = indices.count, plane = 3 * size * size
        _ = try Tensor.checkedCount([count, 3, size, size], op: "fashion-mnist-scenes")
        let images = Tensor.uninitialized([count, 3, size, size])
        var objects = [[Object]](repeating: [], count: count)
        let chunks = min(count, Parallel.workers * 8)
        objects.withUnsafeMutableBufferPointer { out in
            source.images.withContiguousPointer { garments in
                let canvas = images.storage.pointer
                Parallel.forEach(chunks) { chunk in
                    var scratch = Scratch(size: size, largestSide: garmentSides.upperBound, sourceSide: sourceSide)
                    defer { scratch.deallocate() }
                    for k in (chunk * count / chunks)..<((chunk + 1) * count / chunks) {
                        out[k] = render(indices.lowerBound + k, into: canvas + k * plane, garments: garments, scratch: &scratch)
                    }
                }
            }
        }
        return Batch(images: images, objects: objects, start: indices.lowerBound)
    }

    /// The generator of scene `index` of `split`: PCG32 seeded by SplitMix64 of the split's key
    /// and the index, on the split's stream.
    static func generator(split: FashionMNIST.Split, index: Int) -> RandomGenerator {
        let key: UInt64 = split == .train ? 0x7472_6169_6E5F_7363 : 0x7465_7374_5F73_6365
        return RandomGenerator(seed: splitMix64(splitMix64(key) &+ UInt64(truncatingIfNeeded: index)),
                               stream: split == .train ? 0x5EED_0001 : 0x5EED_0002)
    }

    /// SplitMix64's finaliser (Steele, Lea and Flood 2014): a bijective 64-bit mix.
    static func splitMix64(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Working buffers of one rendering thread.
    struct Scratch {
        /// The index of the garment drawn at each canvas pixel, -1 for background.
        var owner: UnsafeMutablePointer<Int8>
        /// The resized garment [side, side] and the horizontal pass [sourceSide, side].
        var garment: UnsafeMutablePointer<Float>
        var rows: UnsafeMutablePointer<Float>

        init(size: Int, largestSide: Int, sourceSide: Int) {
            owner = .allocate(capacity: size * size)
            garment = .allocate(capacity: largestSide * largestSide)
            rows = .allocate(capacity: sourceSide * largestSide)
        }

        func deallocate() {
            owner.deallocate()
            garment.deallocate()
            rows.deallocate()
        }
    }

    /// One draw of a garment: which image, its side, position and tint.
    private struct Placement {
        var sourceIndex: Int
        var side: Int
        var left: Int
        var top: Int
        var tint: SIMD3<Float>
    }

    /// Draws scene `index` on `canvas` [3, size, size] and returns its garments.
    private func render(_ index: Int, into canvas: UnsafeMutablePointer<Float>, garments: UnsafePointer<Float>,
                        scratch: inout Scratch) -> [Object] {
        var generator = Self.generator(split: split, index: index)
        let pixels = size * size
        canvas.initialize(repeating: 0, count: 3 * pixels)
        scratch.owner.initialize(repeating: -1, count: pixels)
        let wanted = 1 + generator.nextInt(below: Self.maximumObjects)
        var placed: [(placement: Placement, box: PixelBox, pixels: Int)] = []
        var visible: [Int] = []
        for _ in 0..<wanted {
            var accepted = false
            for _ in 0..<(placed.isEmpty ? Self.attempts * 4 : Self.attempts) {
                let placement = draw(&generator)
                let side = placement.side
                resize(garments + placement.sourceIndex * sourceSide * sourceSide, side: side, scratch: scratch)
                guard let local = inkBox(scratch.garment, side: side) else { continue }
                let box = PixelBox(x0: placement.left + local.x0, y0: placement.top + local.y0,
                                   x1: placement.left + local.x1, y1: placement.top + local.y1)
                guard placed.allSatisfy({ $0.box.intersectionOverUnion(with: box) <= Self.maximumIoU }) else { continue }
                // The pixels of each earlier garment the new one would cover.
                var covered = [Int](repeating: 0, count: placed.count)
                var inked = 0
                for y in 0..<side {
                    let row = scratch.garment + y * side, ownerRow = scratch.owner + (placement.top + y) * size + placement.left
                    for x in 0..<side where row[x] > 0 {
                        inked += 1
                        let previous = Int(ownerRow[x])
                        if previous >= 0 { covered[previous] += 1 }
                    }
                }
                let keepsEnough = placed.indices.allSatisfy {
                    Float(visible[$0] - covered[$0]) >= Self.minimumVisibleFraction * Float(placed[$0].pixels)
                }
                guard keepsEnough else { continue }
                let number = placed.count
                for k in placed.indices { visible[k] -= covered[k] }
                paint(placement, number: number, canvas: canvas, scratch: scratch)
                placed.append((placement, box, inked))
                visible.append(inked)
                accepted = true
                break
            }
            if !accepted { break }
        }
        // Boxes tight around the pixels each garment keeps in view.
        var boxes = [PixelBox](repeating: PixelBox(x0: size, y0: size, x1: 0, y1: 0), count: placed.count)
        for y in 0..<size {
            let ownerRow = scratch.owner + y * size
            for x in 0..<size where ownerRow[x] >= 0 {
                let k = Int(ownerRow[x])
                boxes[k].x0 = min(boxes[k].x0, x)
                boxes[k].x1 = max(boxes[k].x1, x + 1)
                boxes[k].y0 = min(boxes[k].y0, y)
                boxes[k].y1 = max(boxes[k].y1, y + 1)
            }
        }
        return placed.enumerated().map { k, entry in
            Object(label: labels[entry.placement.sourceIndex], box: boxes[k], sourceIndex: entry.placement.sourceIndex,
                   tint: entry.placement.tint)
        }
    }

    /// Draws a garment's image, side, position (inside the canvas) and tint: a hue in [0, 1),
    /// saturation in [0.45, 1] and value in [0.75, 1].
    private func draw(_ generator: inout RandomGenerator) -> Placement {
        let sourceIndex = generator.nextInt(below: source.count)
        let side = garmentSides.lowerBound + generator.nextInt(below: garmentSides.count)
        let left = generator.nextInt(below: size - side + 1)
        let top = generator.nextInt(below: size - side + 1)
        let hue = generator.nextUniform()
        let saturation = 0.45 + 0.55 * generator.nextUniform()
        let value = 0.75 + 0.25 * generator.nextUniform()
        return Placement(sourceIndex: sourceIndex, side: side, left: left, top: top,
                         tint: Self.rgb(hue: hue, saturation: saturation, value: value))
    }

    /// Resizes a source image into `scratch.garment` [side, side] and zeroes intensities below
    /// `inkThreshold`.
    private func resize(_ image: UnsafePointer<Float>, side: Int, scratch: Scratch) {
        let filter = taps[side - garmentSides.lowerBound]
        for y in 0..<sourceSide {
            filter.apply(image + y * sourceSide, stride: 1, into: scratch.rows + y * side, outStride: 1)
        }
        filter.applyRows(scratch.rows, width: side, into: scratch.garment)
        for i in 0..<(side * side) where scratch.garment[i] < Self.inkThreshold {
            scratch.garment[i] = 0
        }
    }

    /// The box of the nonzero pixels of `garment` [side, side], nil when there are none.
    private func inkBox(_ garment: UnsafePointer<Float>, side: Int) -> PixelBox? {
        var box = PixelBox(x0: side, y0: side, x1: 0, y1: 0)
        for y in 0..<side {
            let row = garment + y * side
            for x in 0..<side where row[x] > 0 {
                box.x0 = min(box.x0, x)
                box.x1 = max(box.x1, x + 1)
                box.y0 = min(box.y0, y)
                box.y1 = max(box.y1, y + 1)
            }
        }
        return box.area > 0 ? box : nil
    }

    /// Paints the resized garment in `scratch.garment` over the canvas, tinted, and marks its
    /// pixels as garment `number`'s.
    private func paint(_ placement: Placement, number: Int, canvas: UnsafeMutablePointer<Float>, scratch: Scratch) {
        let pixels = size * size, side = placement.side
        for y in 0..<side {
            let row = scratch.garment + y * side
            let offset = (placement.top + y) * size + placement.left
            for x in 0..<side where row[x] > 0 {
                let v = min(row[x], 1)
                canvas[offset + x] = placement.tint.x * v
                canvas[pixels + offset + x] = placement.tint.y * v
                canvas[2 * pixels + offset + x] = placement.tint.z * v
                scratch.owner[offset + x] = Int8(number)
            }
        }
    }

    /// HSV (hue in [0, 1)) to RGB.
    static func rgb(hue: Float, saturation: Float, value: Float) -> SIMD3<Float> {
        let h = (hue - hue.rounded(.down)) * 6
        let sector = min(Int(h), 5), f = h - Float(sector)
        let p = value * (1 - saturation), q = value * (1 - f * saturation), t = value * (1 - (1 - f) * saturation)
        switch sector {
        case 0: return SIMD3(value, t, p)
        case 1: return SIMD3(q, value, p)
        case 2: return SIMD3(p, value, t)
        case 3: return SIMD3(p, q, value)
        case 4: return SIMD3(t, p, value)
        default: return SIMD3(value, p, q)
        }
    }
}
