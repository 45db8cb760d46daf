import Foundation
import LoupeTensor
import LoupeIO
import LoupeModels

/// How faithfully an inverse chain reconstructs images from one layer (means over the images).
public struct LayerReportRow: Sendable {
    public var layer: String
    public var mse: Float
    public var psnr: Float
    /// NaN when the images are smaller than the SSIM window (11 x 11).
    public var ssim: Float
    /// Cosine similarity of the layer's activation on the reconstruction and on the original.
    public var reencodingCosine: Float
    /// Agreement of the model's predictions on reconstruction and original: for a classifier the
    /// fraction of images with the same top-1 class, for a DETR the fraction of the original's
    /// detections found again (see `LayerReport.agreementName`).
    public var agreement: Float
}

/// The rows of `layerReport` and the picture grid (originals in the first row, one row of
/// reconstructions per layer), `[C, H', W']` in [0, 1].
public struct LayerReport {
    public var rows: [LayerReportRow]
    public var grid: Tensor
    /// Reconstructions by layer, `[B, C, H, W]` in [0, 1].
    public var reconstructions: [String: Tensor]
    /// What `agreement` measures: `top-1` (a classifier) or `detections` (a DETR: the original's
    /// detections scoring 0.5 or more found again with the same class at IoU 0.5 or more).
    public var agreementName: String

    /// The rows as an aligned text table.
    public var table: String {
        var lines = [ReportTable.row(["layer", "MSE", "PSNR", "SSIM", "re-enc cos", agreementName == "top-1" ? "top-1" : "detect"], widths: widths)]
        for row in rows {
            lines.append(ReportTable.row([row.layer, ReportTable.number(row.mse, 6), ReportTable.number(row.psnr, 2),
                                          ReportTable.number(row.ssim, 4), ReportTable.number(row.reencodingCosine, 4),
                                          ReportTable.number(row.agreement, 3)], widths: widths))
        }
        return lines.joined(separator: "\n")
    }

    private var widths: [Int] { [max(5, rows.map(\.layer.count).max() ?? 0), 10, 8, 7, 10, 6] }
}

/// Aligned plain-text tables for reports.
enum ReportTable {
    /// The first column left-aligned, the others right-aligned, separated by two spaces.
    static func row(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            let (cell, width) = pair
            let padding = String(repeating: " ", count: max(0, width - cell.count))
            return index == 0 ? cell + padding : padding + cell
        }.joined(separator: "  ")
    }

    static func number(_ value: Float, _ digits: Int) -> String {
        value.isNaN ? "nan" : (value.isInfinite ? "inf" : String(format: "%.\(digits)f", Double(value)))
    }
}

/// Reconstructs `images` (`[B, C, H, W]` in [0, 1]) from each of `layers` of `model` (default:
/// every start of the chain, deepest first) with `chain`, and measures MSE, PSNR, SSIM (on the
/// reconstruction clamped to [0, 1]), re-encoding cosine and the agreement of the model's
/// predictions (top-1 class, or a DETR's detections). The model input is normalised with the chain's normalisation.
public func layerReport(_ model: Module, _ chain: InverseChain, images: Tensor, layers: [String]? = nil) throws -> LayerReport {
    guard images.rank == 4, images.shape[0] > 0 else {
        throw LoupeError("layer_report: images must be [B, C, H, W], got \(describe(shape: images.shape))")
    }
    let layers = layers ?? chain.startPaths
    for layer in layers { _ = try chain.stageIndex(from: layer) }
    let normalization = chain.config.normalization
    return try GradMode.withoutGrad {
        let wasTraining = model.training
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        let original = try representations(model, try normalization.apply(images), layers)
        let height = images.shape[2], width = images.shape[3]
        var rows: [LayerReportRow] = []
        var reconstructions: [String: Tensor] = [:]
        var tiles = [images]
        let bar = ProgressBar("layer_report", total: layers.count)
        defer { bar.finish() }
        for (index, layer) in layers.enumerated() {
            try Interrupt.checkpoint("layer_report")
            let reconstruction = try chain.reconstruct(original.activations, from: layer).clamped(min: 0, max: 1)
            reconstructions[layer] = reconstruction
            tiles.append(reconstruction)
            let again = try representations(model, try normalization.apply(reconstruction), [layer])
            let side = min(height, width)
            let ssim = side >= 11 ? try ImageMetrics.ssim(reconstruction, images).mean().item() : .nan
            guard let before = original.activations[layer], let after = again.activations[layer] else {
                throw LoupeError("layer_report: the model gave no activation at '\(layer)'")
            }
            rows.append(LayerReportRow(
                layer: layer,
                mse: try ImageMetrics.mse(reconstruction, images).mean().item(),
                psnr: try ImageMetrics.psnr(reconstruction, images).mean().item(),
                ssim: ssim,
                reencodingCosine: try ImageMetrics.cosineSimilarity(after, before).mean().item(),
                agreement: try PredictionAgreement.fraction(model, original: original.output, reconstructed: again.output,
                                                            height: height, width: width)))
            bar.update(index + 1)
        }
        let grid = try Images.grid(tiles, columns: images.shape[0], padding: 2)
        return LayerReport(rows: rows, grid: grid, reconstructions: reconstructions,
                           agreementName: model is DETR ? "detections" : "top-1")
    }
}
