import XCTest
import LoupeModels
import LoupeIO

final class ClassNamesTests: XCTestCase {
    func testClassNamesRoundTripThroughCheckpointMetadata() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let names = (0..<model.config.classes).map { "class \($0)" }
        let tricky = ["tench, Tinca tinca", "quote \" and \\ backslash", "tab\tnew\nline", "ünïcødé 猫"]
        let classNames = Array((tricky + names).prefix(model.config.classes))
        let path = TimmFixtures.temporaryPath("classes.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(model, to: path, classNames: classNames)
        XCTAssertNotNil(try SafeTensorsFile(path: path).metadata["loupe.classes"])

        let loaded = try loadModelWithClasses(path, architectures: .loupeModels)
        XCTAssertEqual(loaded.classNames, classNames)
        guard let vit = loaded.model as? VisionTransformer else { return XCTFail("not a ViT") }
        let x = try c.tensor("input")
        XCTAssertEqual(try forward(vit, x).scalars, try forward(model, x).scalars)
        XCTAssertTrue(try loadModel(path, architectures: .loupeModels) is VisionTransformer, "loadModel still works")
    }

    func testCheckpointWithoutClassNamesGivesNil() throws {
        let (model, _) = try TimmFixtures.model("vit_p8_cls")
        let path = TimmFixtures.temporaryPath("noclasses.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(model, to: path)
        XCTAssertNil(try SafeTensorsFile(path: path).metadata["loupe.classes"])
        XCTAssertNil(try loadModelWithClasses(path, architectures: .loupeModels).classNames)

        try saveModel(model, to: path, classNames: [])
        XCTAssertEqual(try loadModelWithClasses(path, architectures: .loupeModels).classNames, [])
    }

    func testMalformedClassNamesAreExplained() throws {
        let (model, _) = try TimmFixtures.model("vit_p8_cls")
        let path = TimmFixtures.temporaryPath("badclasses.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let metadata = ["loupe.architecture": "vit", "loupe.config": try model.configurationJSON()]
        for (value, expected) in [("{\"a\": 1}", "object, expected an array"), ("[\"a\", 3]", "entry 1 is a number"), ("[\"a\"", "loupe.classes")] {
            try SafeTensors.write(model.stateDict(), to: path, metadata: metadata.merging(["loupe.classes": value]) { $1 })
            XCTAssertThrowsError(try loadModelWithClasses(path, architectures: .loupeModels)) { error in
                XCTAssertTrue("\(error)".contains(expected) && "\(error)".contains(path), "\(error)")
            }
        }
    }
}
