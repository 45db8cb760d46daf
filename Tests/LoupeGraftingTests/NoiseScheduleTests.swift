import XCTest
import LoupeGrafting
import LoupeTensor

/// DiT's linear schedule and its respacing, against values derived by hand from the definitions
/// in DiT's `gaussian_diffusion.py` and `respace.py`.
final class NoiseScheduleTests: XCTestCase {
    func testLinearBetasRunFromOneTenThousandthToTwoHundredthsEvenly() throws {
        let betas = try NoiseSchedule.linearBetas(steps: 1000)
        XCTAssertEqual(betas.count, 1000)
        XCTAssertEqual(betas[0], 1e-4, accuracy: 1e-15)
        XCTAssertEqual(betas[1], 1e-4 + 0.0199 / 999, accuracy: 1e-15)
        XCTAssertEqual(betas[999], 0.02)
        // 100 steps: everything scaled by 10.
        let coarse = try NoiseSchedule.linearBetas(steps: 100)
        XCTAssertEqual(coarse[0], 1e-3, accuracy: 1e-15)
        XCTAssertEqual(coarse[99], 0.2, accuracy: 1e-15)
    }

    func testDerivedQuantitiesFollowTheirDefinitions() throws {
        let schedule = try NoiseSchedule(betas: [0.1, 0.2, 0.5])
        for (value, expected) in zip(schedule.alphasCumprod + schedule.alphasCumprodPrevious, [0.9, 0.72, 0.36, 1, 0.9, 0.72]) {
            XCTAssertEqual(value, expected, accuracy: 1e-15)
        }
        // q(x_{t-1} | x_t, x_0): variance beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 0.
        XCTAssertEqual(schedule.posteriorVariance[0], 0)
        XCTAssertEqual(schedule.posteriorVariance[1], 0.2 * 0.1 / 0.28, accuracy: 1e-15)
        XCTAssertEqual(schedule.posteriorLogVarianceClipped[0], log(0.2 * 0.1 / 0.28), accuracy: 1e-15)
        XCTAssertEqual(schedule.posteriorLogVarianceClipped[1], log(0.2 * 0.1 / 0.28), accuracy: 1e-15)
        XCTAssertEqual(schedule.posteriorMeanCoefficient1[2], 0.5 * 0.72.squareRoot() / 0.64, accuracy: 1e-15)
        XCTAssertEqual(schedule.posteriorMeanCoefficient2[2], 0.28 * 0.5.squareRoot() / 0.64, accuracy: 1e-15)
        XCTAssertEqual(schedule.sqrtRecipm1AlphasCumprod[0], (1 / 0.9 - 1).squareRoot(), accuracy: 1e-15)
    }

    func testRespacingKeepsRoundedStridesPerSection() throws {
        // respace.py's docstring example: 300 steps, sections [10, 15, 20] of 100 steps each.
        let kept = try NoiseSchedule.retainedSteps(originalSteps: 300, respacing: "10,15,20")
        XCTAssertEqual(kept.count, 45)
        XCTAssertEqual(Array(kept.prefix(3)), [0, 11, 22]) // stride 99 / 9 = 11
        XCTAssertEqual(kept[10], 100)                          // second section starts at 100
        XCTAssertEqual(kept[11], 107)                          // stride 99 / 14 = 7.07
        XCTAssertEqual(kept.last, 299)
        // 250 of 1000: stride 999 / 249 = 4.012..., first 0 and last 999.
        let dit = try NoiseSchedule.retainedSteps(originalSteps: 1000, respacing: "250")
        XCTAssertEqual(dit.count, 250)
        XCTAssertEqual(Array(dit.prefix(4)), [0, 4, 8, 12])
        XCTAssertEqual(dit.last, 999)
        XCTAssertEqual(try NoiseSchedule.retainedSteps(originalSteps: 1000, respacing: "ddim50"), Array(stride(from: 0, to: 1000, by: 20)))
    }

    func testRespacedScheduleKeepsTheCumulativeProductsOfItsSteps() throws {
        let base = try NoiseSchedule.dit()
        let spaced = try NoiseSchedule.dit(respacing: "25")
        XCTAssertEqual(spaced.steps, 25)
        XCTAssertEqual(spaced.originalSteps, 1000)
        for (i, t) in spaced.timestepMap.enumerated() {
            XCTAssertEqual(spaced.alphasCumprod[i], base.alphasCumprod[t], accuracy: 1e-12)
        }
        XCTAssertEqual(base.timestepMap, Array(0..<1000))
    }

    func testBadRespacingsAreNamedErrors() {
        XCTAssertThrowsError(try NoiseSchedule.retainedSteps(originalSteps: 1000, respacing: "ddim600")) {
            XCTAssertTrue("\($0)".contains("integer stride"), "\($0)")
        }
        XCTAssertThrowsError(try NoiseSchedule.retainedSteps(originalSteps: 100, respacing: "fast")) {
            XCTAssertTrue("\($0)".contains("'fast'"), "\($0)")
        }
        XCTAssertThrowsError(try NoiseSchedule.retainedSteps(originalSteps: 10, respacing: "20")) {
            XCTAssertTrue("\($0)".contains("10 steps into 20"), "\($0)")
        }
    }
}
