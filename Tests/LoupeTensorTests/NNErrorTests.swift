import XCTest
@testable import LoupeTensor

/// Every NN error path throws a `LoupeError` whose message names the op and the shapes.
final class NNErrorTests: XCTestCase {
    func assertError(_ parts: [String], file: StaticString = #filePath, line: UInt = #line,
                     _ body: () throws -> Any) {
        do {
            _ = try body()
            XCTFail("expected an error mentioning \(parts)", file: file, line: line)
        } catch let error as LoupeError {
            for part in parts where !error.message.contains(part) {
                XCTFail("'\(error.message)' does not mention '\(part)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func z(_ shape: [Int]) -> Tensor { try! Tensor.zeros(shape) }

    func testLinearAndConvolutionErrors() {
        assertError(["linear", "[2, 3]", "[4, 5]"]) { try NN.linear(self.z([2, 3]), weight: self.z([4, 5])) }
        assertError(["linear", "bias [3]"]) { try NN.linear(self.z([2, 5]), weight: self.z([4, 5]), bias: self.z([3])) }
        assertError(["conv2d", "[1, 3, 5, 5]", "[4, 2, 3, 3]", "groups 1"]) {
            try NN.conv2d(self.z([1, 3, 5, 5]), weight: self.z([4, 2, 3, 3]))
        }
        assertError(["conv2d", "larger", "[1, 3, 2, 2]"]) { try NN.conv2d(self.z([1, 3, 2, 2]), weight: self.z([4, 3, 3, 3])) }
        assertError(["conv2d", "stride"]) { try NN.conv2d(self.z([1, 3, 5, 5]), weight: self.z([4, 3, 3, 3]), stride: 0) }
        assertError(["conv2d", "bias of shape [3]", "4 channels"]) {
            try NN.conv2d(self.z([1, 3, 5, 5]), weight: self.z([4, 3, 3, 3]), bias: self.z([3]))
        }
        assertError(["conv2d", "4-D", "[3, 5, 5]"]) { try NN.conv2d(self.z([3, 5, 5]), weight: self.z([4, 3, 3, 3])) }
        assertError(["conv1d", "[2, 3]"]) { try NN.conv1d(self.z([2, 3]), weight: self.z([4, 3, 3])) }
        assertError(["convTranspose2d", "output padding", "[1, 4, 3, 3]"]) {
            try NN.convTranspose2d(self.z([1, 4, 3, 3]), weight: self.z([4, 2, 3, 3]), stride: 1, outputPadding: 1)
        }
        assertError(["convTranspose2d", "[1, 4, 3, 3]", "[3, 2, 3, 3]"]) {
            try NN.convTranspose2d(self.z([1, 4, 3, 3]), weight: self.z([3, 2, 3, 3]))
        }
    }

    func testPoolingAndResizeErrors() {
        assertError(["avgPool2d", "half the kernel", "[1, 1, 5, 5]"]) {
            try NN.avgPool2d(self.z([1, 1, 5, 5]), kernel: 2, padding: 2)
        }
        assertError(["maxPool2d", "larger", "[1, 1, 2, 2]"]) { try NN.maxPool2d(self.z([1, 1, 2, 2]), kernel: 3) }
        assertError(["maxPool2d", "rank", "[5, 5]"]) { try NN.maxPool2d(self.z([5, 5]), kernel: 2) }
        assertError(["adaptiveAvgPool2d", "[1, 1, 5, 5]", "(0, 2)"]) {
            try NN.adaptiveAvgPool2d(self.z([1, 1, 5, 5]), outputSize: (0, 2))
        }
        assertError(["upsampleNearest2d", "[4, 4]"]) { try NN.upsampleNearest2d(self.z([4, 4]), size: (8, 8)) }
        assertError(["upsampleBilinear2d", "scale -1"]) { try NN.upsampleBilinear2d(self.z([1, 1, 4, 4]), scale: -1) }
        assertError(["interpolate", "exactly one", "[1, 1, 4, 4]"]) { try NN.interpolate(self.z([1, 1, 4, 4])) }
        assertError(["interpolate", "exactly one"]) { try NN.interpolate(self.z([1, 1, 4, 4]), size: (2, 2), scale: (2, 2)) }
        assertError(["interpolate", "align_corners", "nearest"]) {
            try NN.interpolate(self.z([1, 1, 4, 4]), size: (2, 2), mode: .nearest, alignCorners: true)
        }
        assertError(["interpolate", "scale (0.0, 2.0)"]) { try NN.interpolate(self.z([1, 1, 4, 4]), scale: (0, 2)) }
        assertError(["interpolate", "[1, 1, 4, 4]", "(0, 2)"]) { try NN.interpolate(self.z([1, 1, 4, 4]), size: (0, 2), mode: .bicubic) }
    }

    func testNormalizationErrors() {
        assertError(["layerNorm", "[4]", "[2, 3]"]) { try NN.layerNorm(self.z([2, 3]), shape: [4]) }
        assertError(["layerNorm", "weight [2]"]) { try NN.layerNorm(self.z([2, 3]), shape: [3], weight: self.z([2])) }
        assertError(["groupNorm", "[2, 6, 4]", "4 groups"]) { try NN.groupNorm(self.z([2, 6, 4]), groups: 4) }
        assertError(["batchNorm", "running", "[2, 3, 4]"]) {
            try NN.batchNorm(self.z([2, 3, 4]), runningMean: nil, runningVar: nil, training: false)
        }
        assertError(["batchNorm", "more than 1 value", "[1, 3]"]) {
            try NN.batchNorm(self.z([1, 3]), runningMean: nil, runningVar: nil, training: true)
        }
        assertError(["batchNorm", "weight of shape [2]", "3 channels"]) {
            try NN.batchNorm(self.z([2, 3]), runningMean: nil, runningVar: nil, weight: self.z([2]), training: true)
        }
    }

    func testAttentionSoftmaxAndLookupErrors() {
        assertError(["softmax", "[]"]) { try NN.softmax(Tensor(1)) }
        assertError(["logSoftmax", "axis 2"]) { try NN.logSoftmax(self.z([2, 2]), axis: 2) }
        assertError(["attention", "[2, 5, 4]", "[2, 6, 3]"]) {
            try NN.attention(query: self.z([2, 5, 4]), key: self.z([2, 6, 3]), value: self.z([2, 6, 3]))
        }
        assertError(["attention", "mask [4, 6]", "[2, 5, 6]"]) {
            try NN.attention(query: self.z([2, 5, 4]), key: self.z([2, 6, 4]), value: self.z([2, 6, 3]), mask: self.z([4, 6]))
        }
        assertError(["attention", "window -1"]) {
            try NN.attention(query: self.z([5, 4]), key: self.z([6, 4]), value: self.z([6, 3]), window: -1)
        }
        assertError(["embedding", "index 7", "[7, 4]"]) { try NN.embedding(Tensor([1, 7]), weight: self.z([7, 4])) }
        assertError(["embedding", "index 1.5"]) { try NN.embedding(Tensor([1.5]), weight: self.z([7, 4])) }
        var rng = RandomGenerator(seed: 1)
        assertError(["dropout", "1.5", "[3]"]) { try NN.dropout(self.z([3]), p: 1.5, training: true, generator: &rng) }
    }

    func testLossAndFFTErrors() {
        assertError(["crossEntropy", "[4, 3]", "[5]"]) { try NN.crossEntropy(logits: self.z([4, 3]), targets: self.z([5])) }
        assertError(["crossEntropy", "target 3", "[2, 3]"]) { try NN.crossEntropy(logits: self.z([2, 3]), targets: Tensor([0, 3])) }
        assertError(["crossEntropy", "label smoothing"]) {
            try NN.crossEntropy(logits: self.z([2, 3]), targets: Tensor([0, 1]), labelSmoothing: 2)
        }
        assertError(["mse", "[2, 3]", "[3, 2]"]) { try NN.mse(self.z([2, 3]), self.z([3, 2])) }
        assertError(["l1", "[2]", "[3]"]) { try NN.l1(self.z([2]), self.z([3])) }
        assertError(["huber", "delta 0"]) { try NN.huber(self.z([2]), self.z([2]), delta: 0) }
        assertError(["smoothL1", "beta -1"]) { try NN.smoothL1(self.z([2]), self.z([2]), beta: -1) }
        assertError(["crossEntropy", "weight of shape [2]", "3 channels"]) {
            try NN.crossEntropy(logits: self.z([2, 3]), targets: Tensor([0, 1]), weight: self.z([2]))
        }
        assertError(["crossEntropy", "target -1", "ignore index -100"]) {
            try NN.crossEntropy(logits: self.z([2, 3]), targets: Tensor([0, -1]))
        }
        assertError(["bceWithLogits", "pos_weight [3]", "[2, 2]"]) {
            try NN.bceWithLogits(self.z([2, 2]), self.z([2, 2]), posWeight: self.z([3]))
        }
        assertError(["bceWithLogits", "[2]", "[2, 1]"]) { try NN.bceWithLogits(self.z([2]), self.z([2, 1])) }
        assertError(["rfft2", "[5]"]) { try NN.rfft2(self.z([5])) }
        assertError(["irfft2", "[4, 3, 3]"]) { try NN.irfft2(self.z([4, 3, 3]), size: (4, 4)) }
    }
}

extension NNErrorTests {
    /// As torch: every target ignored leaves the weighted mean 0 / 0 (NaN), while the sum is 0;
    /// causal attention excludes a mask.
    func testIgnoredTargetsAndCausalMask() throws {
        let logits = try Tensor.ones([2, 3])
        XCTAssertTrue(try NN.crossEntropy(logits: logits, targets: Tensor([-100, -100])).item().isNaN)
        XCTAssertEqual(try NN.crossEntropy(logits: logits, targets: Tensor([-100, -100]), reduction: .sum).item(), 0)
        assertError(["attention", "causal"]) {
            try NN.attention(query: self.z([2, 4]), key: self.z([2, 4]), value: self.z([2, 4]), mask: self.z([2, 2]), causal: true)
        }
    }

    func testAbsurdHyperParametersThrowInsteadOfCrashing() {
        let x = z([1, 1, 4, 4]), w = z([1, 1, 2, 2])
        assertError(["conv2d", "padding"]) { try NN.conv2d(x, weight: w, stride: 1, padding: Int.max) }
        assertError(["conv2d", "dilation"]) { try NN.conv2d(x, weight: w, stride: 1, dilation: Int.max) }
        assertError(["conv2d", "too large"]) { try NN.conv2d(x, weight: w, padding: (1 << 24, 1 << 24)) }
        assertError(["convTranspose2d"]) { try NN.convTranspose2d(x, weight: w, stride: Int.max) }
        assertError(["avgPool2d"]) { try NN.avgPool2d(x, kernel: Int.max, padding: Int.max / 2) }
        assertError(["maxPool2d"]) { try NN.maxPool2d(x, kernel: 2, dilation: Int.max) }
        assertError(["upsampleNearest2d"]) { try NN.upsampleNearest2d(x, scale: 1e30) }
        assertError(["irfft2", "no frequencies"]) { try NN.irfft2(self.z([2, 0, 3, 2]), size: (4, 4)) }
    }

    func testEmptyBatchGivesZeroWeightGradient() throws {
        let x = z([0, 2, 4, 4]), w = try Tensor.ones([3, 2, 3, 3]).requiringGrad()
        let y = try NN.conv2d(x, weight: w, stride: 1, padding: 1)
        XCTAssertEqual(y.shape, [0, 3, 4, 4])
        let g = try Autograd.gradients(of: y, wrt: [w], seed: y.detached())[0]
        XCTAssertEqual(g.scalars, [Float](repeating: 0, count: 54))
    }
}

extension NNErrorTests {
    func testEmptyInputsGiveEmptyOutputs() throws {
        XCTAssertEqual(try NN.maxPool2d(z([0, 3, 4, 4]), kernel: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(try NN.avgPool2d(z([0, 3, 4, 4]), kernel: 2).shape, [0, 3, 2, 2])
        XCTAssertEqual(try NN.layerNorm(z([0, 6]), shape: [6]).shape, [0, 6])
        XCTAssertEqual(try NN.softmax(z([0, 6])).shape, [0, 6])
        XCTAssertEqual(try NN.linear(z([0, 6]), weight: z([2, 6])).shape, [0, 2])
        XCTAssertEqual(try NN.upsampleBilinear2d(z([0, 1, 2, 2]), size: (3, 3)).shape, [0, 1, 3, 3])
        XCTAssertEqual(try NN.embedding(z([0]), weight: z([3, 2])).shape, [0, 2])
    }
}
