import Foundation
import LoupeModels
import LoupeTensor

/// The Mamba-2 mixer of mamba_ssm (`mamba_ssm.Mamba2`, the grafting paper's `mamba2` operator:
/// `configs/sequence_mixers/mamba2.yaml`, d_model 1152, d_state 64, d_conv 4, expand 2, headdim
/// 16, otherwise mamba_ssm's defaults: 1 group, no linear biases, a conv bias, gated RMSNorm with
/// eps 1e-5 after the gate, causal) on `[N, T, C]` token sequences:
///
///     z, xBC, dt = in_proj(u)                      (d_inner, d_inner + 2 G S, heads)
///     x, B, C    = silu(conv1d(xBC))               (causal depthwise, k = d_conv)
///     y          = scan(x, softplus(dt + dt_bias), -exp(A_log), B, C, D)
///     out        = out_proj(norm(y * silu(z)))
///
/// with the scan of `NN.selectiveScan`. Parameter names and shapes are mamba_ssm's (and
/// transformers' `Mamba2Mixer`'s): `in_proj.weight`, `conv1d.weight` `[conv_dim, 1, d_conv]`,
/// `conv1d.bias`, `dt_bias`, `A_log`, `D` (one per head), `norm.weight`, `out_proj.weight`.
/// Sites: the children and `y` (the scan output, before the gate).
public final class Mamba2: Module {
    /// The sizes of a Mamba-2 mixer (mamba_ssm's constructor arguments).
    public struct Config: Codable, Equatable, Sendable {
        public var dModel: Int
        public var dState: Int
        public var dConv: Int
        public var expand: Int
        public var headdim: Int
        public var ngroups: Int

        public init(dModel: Int, dState: Int = 64, dConv: Int = 4, expand: Int = 2, headdim: Int = 16, ngroups: Int = 1) {
            self.dModel = dModel; self.dState = dState; self.dConv = dConv
            self.expand = expand; self.headdim = headdim; self.ngroups = ngroups
        }

        /// The width of the SSM (`expand * d_model`).
        public var dInner: Int { expand * dModel }
        /// The number of heads (`d_inner / headdim`).
        public var heads: Int { dInner / headdim }
        /// The channels of the convolution (x, B and C).
        public var convDim: Int { dInner + 2 * ngroups * dState }

        /// Throws unless every size is positive and the heads and groups divide evenly.
        public func validate() throws {
            guard dModel > 0, dState > 0, dConv > 0, expand > 0, headdim > 0, ngroups > 0,
                  dInner % headdim == 0, heads % ngroups == 0 else {
                throw LoupeError("Mamba2: invalid sizes d_model \(dModel), d_state \(dState), d_conv \(dConv), expand \(expand), headdim \(headdim), ngroups \(ngroups) (expand * d_model must be a multiple of headdim, and the heads of ngroups)")
            }
        }
    }

    public let config: Config
    public let inProj: Linear
    public let conv1d: CausalConv1dFilter
    public let dtBias: Parameter
    public let aLog: Parameter
    public let d: Parameter
    public let norm: GroupRMSNorm
    public let outProj: Linear

    /// A mixer with zero projections and convolution, `dt_bias` 0, `A_log` 0 and `D` 1 (see
    /// `initialize`).
    public init(_ config: Config) throws {
        try config.validate()
        self.config = config
        let c = config
        inProj = try Linear(c.dModel, 2 * c.dInner + 2 * c.ngroups * c.dState + c.heads, bias: false)
        conv1d = try CausalConv1dFilter(channels: c.convDim, kernel: c.dConv)
        dtBias = Parameter(try Tensor.zeros([c.heads]))
        aLog = Parameter(try Tensor.zeros([c.heads]))
        d = Parameter(try Tensor.ones([c.heads]))
        norm = try GroupRMSNorm(dim: c.dInner, groupSize: c.dInner / c.ngroups, eps: 1e-5)
        outProj = try Linear(c.dInner, c.dModel, bias: false)
        super.init()
        registerModule("in_proj", inProj)
        registerModule("conv1d", conv1d)
        registerParameter("dt_bias", dtBias)
        registerParameter("A_log", aLog)
        registerParameter("D", d)
        registerModule("norm", norm)
        registerModule("out_proj", outProj)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let c = config
        try checkTokens(input, dim: c.dModel, op: typeName)
        let projected = try context.apply(inProj, input).split(sizes: [c.dInner, c.convDim, c.heads], axis: 2)
        let xBC = try context.apply(conv1d, projected[1]).silu()
        let parts = try xBC.split(sizes: [c.dInner, c.ngroups * c.dState, c.ngroups * c.dState], axis: 2)
        let step = try (projected[2] + dtBias.value).softplus()
        let decay = -aLog.value.exp()
        let y = try context.site("y", try NN.selectiveScan(x: parts[0], dt: step, A: decay, B: parts[1], C: parts[2],
                                                           D: d.value, headDim: c.headdim, groups: c.ngroups))
        let normalized = try context.apply(norm, try y * projected[0].silu())
        return try context.apply(outProj, normalized)
    }

    /// mamba_ssm's initialisation: torch's defaults for `in_proj`, `conv1d` and `out_proj`;
    /// `dt_bias` the inverse softplus of time steps log-uniform in [0.001, 0.1] (at least
    /// 1e-4); `A_log = log(U(1, 16))`; `D` and the norm's weight 1.
    public func initialize(generator: inout RandomGenerator) throws {
        let c = config
        try inProj.resetParameters(generator: &generator)
        try conv1d.resetParameters(generator: &generator)
        let dtMin = 0.001, dtMax = 0.1, floor = 1e-4
        let steps = (0..<c.heads).map { _ -> Double in
            let u = Double(generator.nextUniform())
            return Swift.max(Foundation.exp(u * (Foundation.log(dtMax) - Foundation.log(dtMin)) + Foundation.log(dtMin)), floor)
        }
        dtBias.value = try Tensor(shape: [c.heads], scalars: steps.map { Float($0 + Foundation.log(-Foundation.expm1(-$0))) })
        aLog.value = try Tensor(shape: [c.heads], scalars: (0..<c.heads).map { _ in Float(Foundation.log(1 + 15 * Double(generator.nextUniform()))) })
        d.value = try Tensor.ones([c.heads])
        norm.weight.value = try Tensor.ones([c.dInner])
        try outProj.resetParameters(generator: &generator)
    }
}
