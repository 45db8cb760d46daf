import Foundation
import LoupeTensor
import LoupeModels

/// Whether a colour perturbation survives reconstruction from one layer (means over images).
public struct ColorReportRow: Sendable {
    /// The perturbation, e.g. `set 120`, `rotate 240`, `gray`.
    public var change: String
    public var layer: String
    /// Circular hue error (degrees) between the perturbed input and its reconstruction inside
    /// the mask (see `Recolor.hueError`); small means the model kept the new colour.
    public var hueError: Float
    /// Hue error between the reconstruction and the unperturbed original inside the mask;
    /// small means the reconstruction restored the typical colour.
    public var hueErrorToOriginal: Float
    /// Fraction of the perturbed input's coloured pixels still coloured in the reconstruction.
    public var coloredFraction: Float
    /// Hue-saturation histogram distance (Bhattacharyya) between perturbed input and
    /// reconstruction inside the mask.
    public var histogramDistance: Float
}

/// The rows of `colorReport` and its table.
public struct ColorReport {
    public var rows: [ColorReportRow]
    /// Reconstructions by change and layer (`"set 0|blocks.3"`), `[B, 3, H, W]`.
    public var reconstructions: [String: Tensor]

    public var table: String {
        let widths = [max(6, rows.map(\.change.count).max() ?? 0), max(5, rows.map(\.layer.count).max() ?? 0), 8, 8, 8, 7]
        var lines = [ReportTable.row(["change", "layer", "hue err", "to orig", "colored", "hist"], widths: widths)]
        for row in rows {
            lines.append(ReportTable.row([row.change, row.layer, ReportTable.number(row.hueError, 2),
                                          ReportTable.number(row.hueErrorToOriginal, 2), ReportTable.number(row.coloredFraction, 3),
                                          ReportTable.number(row.histogramDistance, 4)], widths: widths))
        }
        return lines.joined(separator: "\n")
    }
}

extension ColorChange {
    /// Short text for tables.
    public var label: String {
        switch self {
        case .rotateHue(let d): return "rotate \(Int(d.rounded()))"
        case .setHue(let d): return "set \(Int(d.rounded()))"
        case .gray: return "gray"
        }
    }
}

/// Perturbs `images` (`[B, 3, H, W]` RGB in [0, 1]) with each of `changes` inside `mask`,
/// reconstructs the perturbed images from each of `layers` (default: every start of the chain)
/// and reports hue errors, the coloured fraction and the histogram distance per change and
/// layer. Means skip NaN images (no coloured pixel).
public func colorReport(_ model: Module, _ chain: InverseChain, images: Tensor, changes: [ColorChange],
                        mask: Tensor? = nil, layers: [String]? = nil) throws -> ColorReport {
    _ = try Recolor.rgbLayout(images, op: "color_report")
    guard images.rank == 4 else {
        throw LoupeError("color_report: images must be [B, 3, H, W], got \(describe(shape: images.shape))")
    }
    guard !changes.isEmpty else { throw LoupeError("color_report: no colour changes given") }
    let layers = layers ?? chain.startPaths
    for layer in layers { _ = try chain.stageIndex(from: layer) }
    let normalization = chain.config.normalization
    func mean(_ t: Tensor) -> Float {
        let finite = t.scalars.filter { !$0.isNaN }
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Float(finite.count)
    }
    return try GradMode.withoutGrad {
        let wasTraining = model.training
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        var rows: [ColorReportRow] = []
        var reconstructions: [String: Tensor] = [:]
        let bar = ProgressBar("color_report", total: changes.count * layers.count)
        defer { bar.finish() }
        for change in changes {
            let perturbed = try Recolor.recolor(images, change, mask: mask)
            let captured = try representations(model, try normalization.apply(perturbed), layers).activations
            for layer in layers {
                try Interrupt.checkpoint("color_report")
                let reconstruction = try chain.reconstruct(captured, from: layer).clamped(min: 0, max: 1)
                reconstructions["\(change.label)|\(layer)"] = reconstruction
                rows.append(ColorReportRow(
                    change: change.label, layer: layer,
                    hueError: mean(try Recolor.hueError(perturbed, reconstruction, mask: mask)),
                    hueErrorToOriginal: mean(try Recolor.hueError(images, reconstruction, mask: mask)),
                    coloredFraction: mean(try Recolor.coloredFraction(perturbed, reconstruction, mask: mask)),
                    histogramDistance: mean(try Recolor.histogramDistance(perturbed, reconstruction, mask: mask))))
                bar.update(rows.count)
            }
        }
        return ColorReport(rows: rows, reconstructions: reconstructions)
    }
}
