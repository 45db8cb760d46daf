import XCTest
import LoupeTensor
@testable import LoupeModels

/// Architectures are looked up in a catalog value built from an explicit list: duplicates are
/// errors, and nested specs (a Sequential's layers) build through the same catalog.
final class ArchitectureCatalogTests: XCTestCase {
    func testLoupeModelsCatalogHasItsArchitectures() throws {
        let catalog = try ArchitectureCatalog.loupeModels
        XCTAssertEqual(catalog.names, ["autoencoder_kl", "conv2d", "conv_transpose2d", "detr", "dit", "gelu", "identity", "layer_norm", "linear", "mlp", "relu", "resnet",
                                       "sequential", "stylegan2", "stylegan2_discriminator", "vit", "vit_block"])
        XCTAssertTrue(catalog.architecture(named: "vit") == VisionTransformer.self)
        XCTAssertNil(catalog.architecture(named: "vit-inverse"))
    }

    func testDuplicateNamesNameBothOwners() throws {
        XCTAssertThrowsError(try ArchitectureCatalog([Identity.self, ReLU.self, Identity.self], owner: "a plug-in")) { error in
            XCTAssertEqual("\(error)", "architecture 'identity' is declared twice: by a plug-in (Identity) and by a plug-in (Identity)")
        }
        var catalog = try ArchitectureCatalog([Identity.self], owner: "the models core")
        XCTAssertThrowsError(try catalog.add([GELU.self, Identity.self], owner: "the extra core")) { error in
            XCTAssertEqual("\(error)", "architecture 'identity' is declared twice: by the models core (Identity) and by the extra core (Identity)")
        }
    }

    func testNestedLayersBuildThroughTheSameCatalog() throws {
        let json = try Sequential([Identity(), ReLU()]).configurationJSON()
        let only = try ArchitectureCatalog([Sequential.self, Identity.self, ReLU.self])
        let built = try XCTUnwrap(try only.build(architecture: "sequential", configurationJSON: json) as? Sequential)
        XCTAssertTrue(built.layers[0] is Identity && built.layers[1] is ReLU)
        // A catalog without the layers' architectures cannot build them, even though LoupeModels has them.
        let partial = try ArchitectureCatalog([Sequential.self, Identity.self])
        XCTAssertThrowsError(try partial.build(architecture: "sequential", configurationJSON: json)) { error in
            XCTAssertEqual("\(error)", "model: unknown architecture 'relu' (known: identity, sequential)")
        }
    }
}
