//! Scoring a token sequence (per-position argmax, negative log-likelihood of each next token,
//! perplexity) with either numerics, and comparing the two.

use crate::error::Result;
use crate::fixed::{argmax, FixedModel};
use crate::reference::Reference;
use serde::{Deserialize, Serialize};

/// The score of one token sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Argmax token after each position (the model's guess of the next token).
    pub argmax: Vec<u32>,
    /// `-ln p(actual next token)` for positions `0..n-1`.
    pub nll: Vec<f64>,
    /// `exp(mean nll)`.
    pub perplexity: f64,
}

/// A few hundred tokens of plain English for accuracy measurements.
pub const SAMPLE_TEXT: &str = "The river town woke slowly in the autumn fog. Fishermen carried their nets down to the water, \
and the baker opened his shutters to let the smell of fresh bread drift into the street. Children ran past \
the church on their way to school, laughing and calling to one another. At the market, farmers set out baskets \
of apples, pears and late tomatoes, while an old woman sold honey from a small wooden cart. \
Most of the people who lived there had never travelled farther than the next valley. They knew the names of \
every family, the history of every house, and the stories of the floods that had come and gone over the \
centuries. When the railway arrived, many feared that the town would lose its character, but the trains \
brought visitors who admired the narrow streets and the stone bridge, and new shops opened to serve them. \
Today the town is known for its music festival, which takes place every summer. Musicians from around the \
world perform in the square, in the church and on boats moored along the river. The festival began as a small \
gathering of local players, but it has grown into one of the most important events in the region. \
Scientists believe that the climate of the valley will change over the coming decades. Warmer winters may \
bring less snow to the mountains, which would reduce the flow of the river in spring. The town council has \
started to plan for these changes by planting trees, repairing old canals and teaching students how to \
measure the water level. In this way, the community hopes to protect both its history and its future.";

/// A second passage for measuring, different in topic and register from [`SAMPLE_TEXT`]
/// (explanatory prose about a machine rather than a story about a town), for agreement figures
/// that do not rest on one text.
pub const SECOND_SAMPLE_TEXT: &str = "A bicycle is one of the most efficient machines ever built. \
When a rider pushes on the pedals, the force turns the crank, and a chain carries the motion to a small \
gear on the rear wheel. Because the front gear is larger than the rear one, each turn of the pedals turns \
the wheel several times, so a modest effort at the feet becomes a useful speed on the road. Modern bicycles \
let the rider change gears while moving. On a steep hill a low gear makes pedalling easy but slow; on a flat \
road a high gear trades effort for speed. The frame must be stiff enough to carry the rider's weight without \
bending, yet light enough to lift with one hand. Early frames were made of steel tubes joined by hand; today \
many are made of aluminium or carbon fibre, which is formed in moulds from layers of woven fabric and resin. \
Tyres matter more than most people think. A narrow tyre pumped to a high pressure rolls with little \
resistance on smooth asphalt, while a wide tyre at a lower pressure grips loose gravel and absorbs the \
shocks of a rough track. Brakes have changed as well: rim brakes press rubber pads against the edge of the \
wheel, and disc brakes squeeze a metal rotor near the hub, which keeps working in rain and mud. To keep a \
bicycle running well, clean and oil the chain every few weeks, check the tyre pressure before each ride, \
and replace the brake pads when the grooves in them have worn away. With this simple care, a good bicycle \
can last for decades and carry its owner many thousands of kilometres.";

/// Different English text, for calibrating quantisation (GPTQ), never for measuring it. It may
/// be longer than a model's context: GPTQ runs it in windows of the context
/// ([`quantize_model_gptq`](crate::gptq::quantize_model_gptq)).
pub const CALIBRATION_TEXT: &str = "A small library stands at the corner of the main road, next to the post office. \
It was built more than a hundred years ago with money collected by the workers of the local mill, who \
wanted their children to have books. The building has tall windows, a creaking wooden floor and a reading \
room that stays warm even in the coldest weeks of January. Every Saturday morning a volunteer reads \
stories to the youngest visitors, and in the evening students come to prepare for their examinations. \
Over the years the collection has changed. Newspapers moved to microfilm and then to computers, and the \
card catalogue was replaced by a database that anyone can search from home. Yet the librarians say that \
people still ask the same questions: where to find a good novel, how to repair a bicycle, how to write a \
letter to the government, and what happened in the town during the war. Last year the library started \
lending tools, seeds and musical instruments. A retired engineer teaches a class on basic electronics, \
and a group of teenagers meets every Tuesday to build small robots. The mayor has promised to repair the \
roof, which leaks during heavy rain, and to keep the doors open on Sundays. For many residents the \
library is not only a place to borrow books, but the heart of the neighbourhood.";

fn nll_of(logits: &[f32], target: u32) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
    -(logits[target as usize] as f64 - m - z.ln())
}

fn finish(argmax: Vec<u32>, nll: Vec<f64>) -> Score {
    let perplexity = (nll.iter().sum::<f64>() / nll.len().max(1) as f64).exp();
    Score {
        argmax,
        nll,
        perplexity,
    }
}

/// Scores `tokens` with the f32 reference (the prompt goes through in one batch).
pub fn score_f32(r: &Reference<'_>, tokens: &[u32]) -> Result<Score> {
    Ok(score_logits(
        &r.forward(&mut r.new_cache(), tokens, true)?,
        tokens,
    ))
}

/// The score of `tokens` given the logits after each of them.
pub fn score_logits(logits: &[Vec<f32>], tokens: &[u32]) -> Score {
    let argmax = logits.iter().map(|l| crate::reference::argmax(l)).collect();
    let nll = tokens
        .iter()
        .skip(1)
        .zip(logits)
        .map(|(&t, l)| nll_of(l, t))
        .collect();
    finish(argmax, nll)
}

/// Scores `tokens` with the fixed-point model, one decoder step per token.
pub fn score_fixed(m: &FixedModel, tokens: &[u32]) -> Result<Score> {
    let mut cache = m.new_cache();
    let (mut argmaxes, mut nll) = (Vec::new(), Vec::new());
    for (i, &t) in tokens.iter().enumerate() {
        let logits = m.step(&mut cache, t)?;
        argmaxes.push(argmax(&logits) as u32);
        if let Some(&next) = tokens.get(i + 1) {
            nll.push(nll_of(&m.logits_real(&logits), next));
        }
    }
    Ok(finish(argmaxes, nll))
}

/// Fraction of positions where two scores pick the same argmax.
pub fn top1_agreement(a: &Score, b: &Score) -> f64 {
    let same = a
        .argmax
        .iter()
        .zip(&b.argmax)
        .filter(|(x, y)| x == y)
        .count();
    same as f64 / a.argmax.len().min(b.argmax.len()).max(1) as f64
}
