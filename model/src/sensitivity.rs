//! What each tensor's quantisation costs the model, measured on the loss, and mixed-precision
//! policies chosen by that cost under a budget of average bits per weight.
//!
//! The cost of leaving a tensor at the low width is the rise in mean next-token negative
//! log-likelihood (the log of the perplexity ratio) on calibration text between the model with
//! every tensor at the low width and the same model with that one tensor at the high width:
//! the decision a mixed policy makes, taken from where it starts. (The cost of quantising a
//! tensor alone in an f32 model is smaller and noisier: at 3 bits, most of SmolLM2-135M's
//! tensors cost less alone than the sampling noise of 128 tokens, yet together they cost 150%
//! of perplexity.) A tensor of layer `l` only changes layers `l..`, so its forward pass starts
//! from the residual stream entering layer `l`, computed once ([`Reference::residuals`]); the
//! embedding (the head too, when tied) runs the whole model. Costs add up only approximately
//! (errors interact), so a policy chosen from them is measured again as a whole by whoever
//! uses it.

use crate::accuracy::score_logits;
use crate::error::{ModelError, Result};
use crate::quant::{
    layer_of, matrices_mut, named_matrices, QuantPolicy, QuantSpec, QuantizedMatrix,
};
use crate::reference::Reference;
use crate::weights::LlamaWeights;
use serde::{Deserialize, Serialize};

/// The measured cost of quantising one tensor alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorCost {
    /// Hugging Face tensor name.
    pub name: String,
    /// Weights in the tensor.
    pub params: usize,
    /// The width it was measured at.
    pub bits: u32,
    /// Rise of the mean next-token NLL over the calibration tokens (nats per token) when this
    /// tensor is left at `bits` rather than raised, every other tensor at `bits`: raising it
    /// divides the perplexity by about `exp(delta_nll)`.
    pub delta_nll: f64,
}

impl TensorCost {
    /// The perplexity cost as a fraction (`0.05` is +5%).
    pub fn perplexity_cost(&self) -> f64 {
        self.delta_nll.exp_m1()
    }
}

/// For each tensor of `switch` (in [`named_matrices`] order): the rise in mean NLL on `tokens`
/// (one context's worth at most) when that tensor of `base` alone is replaced by it.
pub fn measure(
    base: &LlamaWeights,
    switch: &[(String, QuantizedMatrix)],
    tokens: &[u32],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<f64>> {
    let names = named_matrices(base);
    if switch.len() != names.len()
        || names
            .iter()
            .zip(switch)
            .any(|((n, m), (qn, q))| n != qn || (m.rows, m.cols) != (q.rows, q.cols))
    {
        return Err(ModelError::Config(
            "sensitivity: the quantised tensors are not the model's, in its order".into(),
        ));
    }
    if tokens.len() < 2 {
        return Err(ModelError::Config(
            "sensitivity: at least 2 calibration tokens are needed".into(),
        ));
    }
    let tokens = &tokens[..tokens.len().min(base.config.max_seq)];
    let reference = Reference::new(base);
    let residuals = reference.residuals(tokens)?;
    let base_nll = score_logits(
        &reference.forward_from_layer(0, residuals[0].clone())?,
        tokens,
    )
    .perplexity
    .ln();
    let layers = base.layers.len();
    let mut changed = base.clone();
    let mut out = Vec::with_capacity(switch.len());
    for (i, (name, q)) in switch.iter().enumerate() {
        progress(i, switch.len());
        let mut m = q.dequantize();
        std::mem::swap(matrices_mut(&mut changed)[i], &mut m);
        let r = Reference::new(&changed);
        let logits = match layer_of(name) {
            Some(l) => r.forward_from_layer(l, residuals[l].clone()),
            // The untied head changes nothing before it; the embedding changes everything.
            None if name == "lm_head.weight" => {
                r.forward_from_layer(layers, residuals[layers].clone())
            }
            None => r.forward(&mut r.new_cache(), tokens, true),
        };
        std::mem::swap(matrices_mut(&mut changed)[i], &mut m);
        out.push(score_logits(&logits?, tokens).perplexity.ln() - base_nll);
    }
    progress(switch.len(), switch.len());
    Ok(out)
}

/// The cost of leaving each tensor at the low width (`low`, every tensor quantised at it)
/// rather than the high one (`high`), with every other tensor at the low width, on `tokens`.
pub fn costs_at_low(
    w: &LlamaWeights,
    low: &[(String, QuantizedMatrix)],
    high: &[(String, QuantizedMatrix)],
    tokens: &[u32],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<TensorCost>> {
    if low.len() != high.len() {
        return Err(ModelError::Config(
            "sensitivity: the two quantisations differ in tensors".into(),
        ));
    }
    let all_low = crate::quant::fake_quantize(w, low);
    let gains = measure(&all_low, high, tokens, progress)?;
    Ok(low
        .iter()
        .zip(gains)
        .map(|((name, q), gain)| TensorCost {
            name: name.clone(),
            params: q.rows * q.cols,
            bits: q.spec.bits,
            delta_nll: -gain,
        })
        .collect())
}

/// A mixed policy under a budget: every tensor at `low`, and the set of tensors raised to
/// `high` whose summed measured cost at `low` is largest while the average weight width stays
/// within `avg_bits` — a 0/1 knapsack, solved exactly by dynamic programming over the budget in
/// [`BUDGET_STEPS`] steps (each tensor's extra bits rounded up to a step, so the budget always
/// holds). Greedy by cost per weight would pass over one large, costly tensor (an embedding)
/// for many small ones worth less together. Only tensors with a positive cost are raised.
pub fn choose(costs: &[TensorCost], low: QuantSpec, high: QuantSpec, avg_bits: f64) -> QuantPolicy {
    let total: usize = costs.iter().map(|c| c.params).sum();
    let extra_per_weight = high.bits as f64 - low.bits as f64;
    let budget = ((avg_bits - low.bits as f64) * total as f64).max(0.0);
    let step = (extra_per_weight * total as f64 / BUDGET_STEPS as f64).max(1.0);
    let cap = ((budget / step).floor() as usize).min(BUDGET_STEPS);
    let items: Vec<(usize, usize)> = costs
        .iter()
        .enumerate()
        .filter(|(_, c)| c.delta_nll > 0.0)
        .map(|(i, c)| {
            (
                i,
                (extra_per_weight * c.params as f64 / step).ceil() as usize,
            )
        })
        .collect();
    // best[k][b]: the largest cost removable with the first k items in b steps.
    let mut best = vec![vec![0f64; cap + 1]; items.len() + 1];
    for (k, &(i, size)) in items.iter().enumerate() {
        for b in 0..=cap {
            let skip = best[k][b];
            let take = (size <= b).then(|| best[k][b - size] + costs[i].delta_nll);
            best[k + 1][b] = take.map_or(skip, |t| t.max(skip));
        }
    }
    let mut raised = Vec::new();
    let mut b = cap;
    for k in (0..items.len()).rev() {
        if best[k + 1][b] != best[k][b] {
            raised.push(items[k].0);
            b -= items[k].1;
        }
    }
    raised.sort_unstable();
    QuantPolicy {
        default: low,
        overrides: raised
            .into_iter()
            .map(|i| (costs[i].name.clone(), high))
            .collect(),
    }
}

/// Steps of the budget in [`choose`]: the whole model raised is this many steps.
pub const BUDGET_STEPS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accuracy::score_f32;
    use crate::config::LlamaConfig;
    use crate::quant::{fake_quantize, quantize_model};

    /// Each measured cost is what the whole-model scores say when only that tensor is raised
    /// from the all-low model: the shortcut of starting at the tensor's layer changes nothing.
    #[test]
    fn costs_equal_whole_model_scores() {
        let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 5).unwrap();
        let tokens: Vec<u32> = (0..24).map(|i| (i * 37 % 250) as u32).collect();
        let low = quantize_model(&w, &QuantPolicy::uniform(QuantSpec::grouped(2, 16)));
        let high = quantize_model(&w, &QuantPolicy::uniform(QuantSpec::grouped(6, 16)));
        let costs = costs_at_low(&w, &low, &high, &tokens, |_, _| {}).unwrap();
        let score = |q: &[(String, QuantizedMatrix)]| {
            score_f32(&Reference::new(&fake_quantize(&w, q)), &tokens)
                .unwrap()
                .perplexity
                .ln()
        };
        let all_low = score(&low);
        assert_eq!(costs.len(), low.len());
        for (i, c) in costs.iter().enumerate() {
            let mut one_high = low.clone();
            one_high[i] = high[i].clone();
            let want = all_low - score(&one_high);
            assert!(
                (c.delta_nll - want).abs() < 1e-9,
                "{}: {} vs {want}",
                c.name,
                c.delta_nll
            );
            assert_eq!((c.params, c.bits), (low[i].1.rows * low[i].1.cols, 2));
        }
        // Raising something from 2 bits helps somewhere.
        assert!(costs.iter().any(|c| c.delta_nll > 1e-3), "{costs:?}");
        // Tensors that are not the model's are refused.
        assert!(costs_at_low(&w, &low[1..], &high[1..], &tokens, |_, _| {}).is_err());
    }

    #[test]
    fn choose_spends_the_budget_on_the_largest_cost() {
        let cost = |name: &str, params, delta_nll| TensorCost {
            name: name.into(),
            params,
            bits: 3,
            delta_nll,
        };
        let costs = [
            cost("a", 100, 0.5),  // large and costly: 0.005 per weight
            cost("b", 10, 0.2),   // 0.02 per weight
            cost("c", 100, 0.01), // cheap
            cost("d", 10, -0.1),  // helps: never raised
        ];
        let (low, high) = (QuantSpec::grouped(3, 32), QuantSpec::grouped(6, 32));
        let raised = |avg| -> Vec<String> {
            let p = choose(&costs, low, high, avg);
            assert_eq!(p.default, low);
            p.overrides.into_iter().map(|(n, _)| n).collect()
        };
        // 220 weights at 3 bits; 4.0 allows 220 extra bits: b (30), not a (300).
        assert_eq!(raised(4.0), ["b"]);
        // 4.4 allows 308: a alone (0.5) beats b and c (0.21), which greedy by cost per weight
        // would take first and then have no room for a.
        assert_eq!(raised(4.4), ["a"]);
        // 4.5 allows 330: a and b exactly.
        assert_eq!(raised(4.5), ["a", "b"]);
        assert!(raised(3.0).is_empty());
        assert_eq!(raised(6.0), ["a", "b", "c"]);
    }

    proptest::proptest! {
        /// The chosen set keeps the budget, and no single swap of one raised tensor for one
        /// left out (that still fits) removes more cost.
        #[test]
        fn choose_is_within_budget_and_not_improved_by_a_swap(
            items in proptest::collection::vec((1usize..1000, -0.1f64..1.0), 1..12),
            avg in 3.0f64..6.0,
        ) {
            let costs: Vec<TensorCost> = items.iter().enumerate().map(|(i, &(params, delta_nll))| TensorCost {
                name: format!("t{i}"), params, bits: 3, delta_nll,
            }).collect();
            let (low, high) = (QuantSpec::grouped(3, 32), QuantSpec::grouped(6, 32));
            let p = choose(&costs, low, high, avg);
            let total: usize = costs.iter().map(|c| c.params).sum();
            let up = |c: &TensorCost| p.overrides.iter().any(|(n, _)| *n == c.name);
            let bits = |set: &dyn Fn(&TensorCost) -> bool| -> f64 {
                costs.iter().map(|c| if set(c) { 6.0 } else { 3.0 } * c.params as f64).sum::<f64>() / total as f64
            };
            proptest::prop_assert!(bits(&up) <= avg + 1e-9);
            let gain: f64 = costs.iter().filter(|c| up(c)).map(|c| c.delta_nll).sum();
            // Anything that fits with a margin of the rounding (one step per tensor) is no better.
            let slack = costs.len() as f64 * 3.0 / BUDGET_STEPS as f64;
            for out in costs.iter().filter(|c| !up(c)) {
                for inn in costs.iter().filter(|c| up(c)).map(Some).chain([None]) {
                    let swapped = |c: &TensorCost| (up(c) && Some(c.name.as_str()) != inn.map(|i| i.name.as_str())) || c.name == out.name;
                    if bits(&swapped) <= avg - slack {
                        let g = gain - inn.map_or(0.0, |i| i.delta_nll) + out.delta_nll;
                        proptest::prop_assert!(g <= gain + 1e-9, "swapping gives {g} > {gain}");
                    }
                }
            }
        }
    }
}
