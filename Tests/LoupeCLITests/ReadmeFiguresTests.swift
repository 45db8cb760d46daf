import Foundation
import XCTest

/// The figures Examples/models/README.md states for the shipped models, re-measured from the
/// shipped files by `loupe` itself: test accuracies on the whole Fashion-MNIST test split (the
/// colour set rebuilt from its script's seed and draws), inverse SSIMs on the images the README
/// names. Tolerances: accuracies within 0.05 percentage points (5 of 10000 images: the README's
/// numbers were measured with OPENBLAS_NUM_THREADS=1, other thread counts change last bits);
/// the inverses' SSIMs (the demo's on the first 1000 test images, the colour one's on 500 images
/// composed with the draws of Examples/train/vit-color-inverse.loupe, replayed here) within half
/// a unit of the last stated digit plus 0.001.
extension REPLTests {
    /// Measures every figure; prints `figure NAME VALUE` lines.
    static let figuresScript = #"""
    test = dataset("fashion-mnist", split: "test")
    data = {images: test.images, labels: test.labels}
    fm = model("Examples/models/vit-fmnist.safetensors")
    print("figure vit-fmnist accuracy", evaluate(fm, data).accuracy)
    cnn = model("Examples/models/cnn-fmnist.safetensors")
    print("figure cnn-fmnist accuracy", evaluate(cnn, data).accuracy)
    inv = load_inverse("Examples/models/vit-fmnist-inverse.safetensors")
    for row in layer_report(fm, inv, test.images[0:1000]).rows
        print("figure vit-fmnist-inverse ssim", row.layer, row.ssim)
    end

    # Examples/train/vit-color.loupe tints with one colour per image from the session generator
    # after seed(2026): 60000 hues, 60000 saturations for the training split, then the test split.
    fn hsv_color(h, s)
        channels = []
        for n in [5, 3, 1]
            k = n + 6 * h
            k = where(k >= 6, k - 6, k)
            channels.append(1 - s * clamp(minimum(k, 4 - k), min: 0, max: 1))
        end
        return cat(channels, axis: 1)
    end
    seed(2026)
    skip = rand(60000, 1, 1, 1)
    skip = rand(60000, 1, 1, 1)
    n = 10000
    color = hsv_color(rand(n, 1, 1, 1), 0.5 + 0.5 * rand(n, 1, 1, 1))
    colored = {images: pad(test.images, [[2, 2], [2, 2]]) * color, labels: test.labels}
    vc = model("Examples/models/vit-color.safetensors")
    print("figure vit-color accuracy", evaluate(vc, colored).accuracy)
    colored = nil
    color = nil

    # Examples/train/vit-color-inverse.loupe composes every training image (256 draws each, in
    # this order) and then the first 500 test images.
    fn backgrounds(n)
        cells = 3 * rand(n, 1, 1, 1)
        coarse = upsample(rand(n, 3, 2, 2), 16, mode: "bilinear")
        medium = upsample(rand(n, 3, 4, 4), 8, mode: "bilinear")
        fine = upsample(rand(n, 3, 8, 8), 4, mode: "bilinear")
        smooth = where(cells < 1, coarse, where(cells < 2, medium, fine))
        return smooth * (rand(n, 1, 1, 1) >= 0.2)
    end
    fn compose(images)
        n = images.shape[0]
        color = hsv_color(rand(n, 1, 1, 1), 0.5 + 0.5 * rand(n, 1, 1, 1))
        garments = pad(images, [[2, 2], [2, 2]])
        return garments * color + (1 - garments) * backgrounds(n)
    end
    seed(2026)
    for shape in [[1, 1, 1], [1, 1, 1], [1, 1, 1], [3, 2, 2], [3, 4, 4], [3, 8, 8], [1, 1, 1]]
        skip = rand(60000, shape[0], shape[1], shape[2])
    end
    skip = nil
    composed = compose(test.images[0:500])
    cinv = load_inverse("Examples/models/vit-color-inverse.safetensors")
    for row in layer_report(vc, cinv, composed).rows
        print("figure vit-color-inverse ssim", row.layer, row.ssim)
    end
    """#

    func testReadmeFiguresOfTheShippedModels() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"), "Fashion-MNIST not installed")
        let readme = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("Examples/models/README.md"), encoding: .utf8)
        func row(_ file: String) throws -> String {
            try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("| `\(file).safetensors`") }.map(String.init), file)
        }
        /// The numbers of a README cell matching `pattern` (capture groups), as written.
        func stated(_ file: String, _ pattern: String) throws -> [String] {
            let text = try row(file)
            let regex = try NSRegularExpression(pattern: pattern)
            let match = try XCTUnwrap(regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), "\(file): \(pattern) in \(text)")
            return (1..<match.numberOfRanges).map { String(text[Range(match.range(at: $0), in: text)!]) }
        }

        let script = home + "/figures.loupe"
        try Self.figuresScript.write(toFile: script, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", script])
        XCTAssertEqual(r.status, 0, r.err)
        var measured: [String: Double] = [:]
        for line in r.out.split(separator: "\n") where line.hasPrefix("figure ") {
            let parts = line.split(separator: " ")
            measured[parts.dropFirst().dropLast().joined(separator: " ")] = Double(parts.last!)
        }

        for name in ["vit-fmnist", "cnn-fmnist", "vit-color"] {
            let percent = try XCTUnwrap(Double(try stated(name, #"([0-9.]+)% test accuracy"#)[0]))
            let value = try XCTUnwrap(measured["\(name) accuracy"], "\(name) accuracy: \(r.out)")
            print("\(name): README \(percent)%, measured \(value * 100)%")
            XCTAssertEqual(value * 100, percent, accuracy: 0.05, "\(name) test accuracy")
        }
        for (name, last) in [("vit-fmnist-inverse", "blocks.5"), ("vit-color-inverse", "blocks.3")] {
            let figures = try stated(name, #"SSIM ([0-9.]+) from blocks\.0 to ([0-9.]+) from (blocks\.[0-9]+)"#)
            XCTAssertEqual(figures[2], last)
            for (layer, text) in [("blocks.0", figures[0]), (last, figures[1])] {
                let decimals = text.split(separator: ".").last!.count
                let tolerance = 0.5 * pow(10, -Double(decimals)) + 0.001
                let value = try XCTUnwrap(measured["\(name) ssim \(layer)"], "\(name) \(layer): \(r.out)")
                print("\(name) from \(layer): README SSIM \(text), measured \(value)")
                XCTAssertEqual(value, Double(text)!, accuracy: tolerance, "\(name) SSIM from \(layer)")
            }
        }
        // The trained inverse's quality on these fixed images, depth by depth: the analytic patch
        // inverse is exact, and every block's SSIM stays within the README's range (deeper is worse).
        let ssims = try (0...5).map { try XCTUnwrap(measured["vit-fmnist-inverse ssim blocks.\($0)"]) }
        XCTAssertGreaterThan(try XCTUnwrap(measured["vit-fmnist-inverse ssim tokens"]), 0.9999)
        for k in 1...5 { XCTAssertLessThan(ssims[k], ssims[k - 1] + 0.01, "SSIM from blocks.\(k) vs blocks.\(k - 1)") }
    }
}
