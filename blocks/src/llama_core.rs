//! [`LlamaCore`]: the whole model as one token-in, token-out module.

use hardwire_hdl::prelude::*;
use hardwire_hdl::primitives::clog2;
use hardwire_model::fixed::FixedModel;

use super::{
    Argmax, DecoderBlock, Embedding, FixedWeightMatVec, MatrixPool, Replay, RmsNorm, WeightStore,
};

/// Width of the `max_new` input: up to 65535 generated tokens per prompt.
pub const MAX_NEW_BITS: u32 = 16;

hardwire_hdl::interface! {
    /// A token-stream core's ports, as [`LlamaCore`] provides them and
    /// [`TokenLink`](crate::TokenLink) drives them. `start` while the core is idle clears its
    /// context; prompt tokens go in (valid/ready) with `in_last` on the last, when `max_new`
    /// is sampled; the generated tokens come out (valid/ready), the last flagged `out_last`.
    pub struct TokenIo(token_bits: u32) {
        input start: Type::BOOL,
        input in_valid: Type::BOOL,
        input in_token: Type::unsigned(token_bits),
        input in_last: Type::BOOL,
        input max_new: Type::unsigned(MAX_NEW_BITS),
        input out_ready: Type::BOOL,
        output in_ready: Type::BOOL,
        output out_valid: Type::BOOL,
        output out_token: Type::unsigned(token_bits),
        output out_last: Type::BOOL,
    }
}

/// The top level: embedding, the decoder layers (one after another on one [`DecoderBlock`]),
/// final norm, LM head and argmax, behind a token-stream interface.
///
/// Ports:
/// - `start`: while idle, clears the KV-cache position (a new conversation).
/// - stream in: `in_valid`, `in_token`, `in_last` (the prompt's last token), `in_ready` out.
///   `max_new` is sampled with the last token: how many tokens to generate after it.
/// - stream out: `out_valid`, `out_token`, `out_last`, `out_ready` in. Generated tokens only.
/// - `pos`: tokens in the KV cache.
///
/// Each prompt token runs through the model (nothing comes out); after the last one the core
/// emits the argmax and feeds it back, greedily, until it has emitted `max_new` tokens or the
/// cache is full (the last is flagged `out_last`). Without `start` the next prompt continues
/// the same context. Cycles per token: [`LlamaCore::cycles_per_token`], from the cycle a token
/// is taken (`in_valid && in_ready`, or `out_valid && out_ready` for a fed-back token) to the
/// cycle its successor is known; a generated token is offered on the next cycle.
///
/// With ROM weights the five matrix units (Q/K/V, O, gate/up, down, LM head) share one
/// [`MatrixPool`] ([`LlamaCore::pool`]): decode runs them one after another anyway, so every
/// lane works on whichever runs, and cycles per token approach
/// [`LlamaCore::cycles_per_token_bound`] plus the attention and norms between them.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaCore {
    /// Token embedding (ROM lookup).
    pub embedding: Embedding,
    /// The decoder layers.
    pub decoder: DecoderBlock,
    /// Final RMSNorm.
    pub final_norm: RmsNorm,
    /// Output projection to the vocabulary.
    pub lm_head: FixedWeightMatVec,
    /// Greedy choice.
    pub argmax: Argmax,
}

impl LlamaCore {
    /// The hardware for `model`: every decoder matrix at `reuse` (1: hardwired weights; more:
    /// ROMs), the LM head at `lm_head_reuse`. The decoder's units run once per layer, the head
    /// once per token, so a head reuse of `reuse` times the layer count balances their time.
    ///
    /// Each unit's store is [`WeightStore::for_reuse`]'s. With ROM weights the five matrix
    /// units then share one [`MatrixPool`] ([`LlamaCore::pooled`]: the same lanes, each busy
    /// with whichever matrix runs) when that takes fewer cycles per token. It does when the
    /// lanes are fewer than a matrix's rows (the tiny model: 4.4× fewer cycles at position 0);
    /// when every matrix fits one pass of the lanes, as SmolLM2-135M's at reuse 1024 do,
    /// each unit already emits a row per cycle, and pooled they would only add the wait for
    /// down's input ([`Replay`]), so they stay apart.
    pub fn from_model(model: &FixedModel, reuse: usize, lm_head_reuse: usize) -> LlamaCore {
        let separate = Self::separate(model, reuse, lm_head_reuse);
        match separate.pooled() {
            Some(pooled) if pooled.cycles_per_token(0) < separate.cycles_per_token(0) => pooled,
            _ => separate,
        }
    }

    /// [`LlamaCore::from_model`] with a unit of its own for every matrix.
    pub fn separate(model: &FixedModel, reuse: usize, lm_head_reuse: usize) -> LlamaCore {
        let store = |rows, cols| WeightStore::for_reuse(rows, cols, reuse);
        let decoder = DecoderBlock::from_model(model, store);
        let n = model.numerics;
        let vocab = model.config.vocab_size;
        let lm_head = FixedWeightMatVec {
            matrices: vec![model.lm_head.clone()],
            input_bits: n.act.bits,
            acc_bits: n.acc_bits,
            store: WeightStore::for_reuse(vocab, model.config.hidden_size, lm_head_reuse),
            label: "lm_head".into(),
        };
        LlamaCore {
            embedding: Embedding {
                matrix: model.embed.clone(),
                label: "embed".into(),
            },
            decoder,
            final_norm: RmsNorm {
                params: vec![model.final_norm.clone()],
                input: n.resid,
                output: n.act,
                table: model.rsqrt_table.clone(),
                label: "final_norm".into(),
            },
            lm_head,
            argmax: Argmax {
                n: vocab,
                bits: n.act.bits,
            },
        }
    }

    /// The core with `lanes` multiply-accumulate lanes in attention's score and
    /// weighted-sum loops (see [`Attention::lanes`](super::Attention::lanes)).
    pub fn with_attention_lanes(mut self, lanes: usize) -> LlamaCore {
        self.decoder.attention.lanes = lanes;
        self
    }

    /// The core with its ROM matrix units on one [`MatrixPool`] of as many lanes as they
    /// have apart (`None` when a unit is hardwired or they already share one).
    pub fn pooled(&self) -> Option<LlamaCore> {
        let mut core = self.clone();
        let d = &mut core.decoder;
        let units = [
            &mut d.qkv,
            &mut d.o_proj,
            &mut d.gate_up,
            &mut d.down,
            &mut core.lm_head,
        ];
        if (units.iter()).any(|u| !matches!(u.store, WeightStore::Rom { .. })) {
            return None;
        }
        let lanes = units.iter().map(|u| u.multipliers()).sum();
        for unit in units {
            unit.store = WeightStore::Shared { lanes };
        }
        Some(core)
    }

    /// The pool the matrix units share, when they do: the units of
    /// [`matvecs`](Self::matvecs), in order.
    pub fn pool(&self) -> Option<MatrixPool> {
        self.decoder.shared_lanes()?;
        Some(MatrixPool {
            units: (self.matvecs().into_iter())
                .map(|(_, unit, _)| unit.clone())
                .collect(),
            label: "core".into(),
        })
    }

    /// The buffer the residual stream waits in between layers.
    fn residual(&self) -> Replay {
        Replay {
            n: self.decoder.hidden(),
            bits: self.decoder.residual_attn.format.bits,
            label: "residual".into(),
        }
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.argmax.n
    }

    /// KV-cache depth in positions.
    pub fn max_seq(&self) -> usize {
        self.decoder.attention.max_seq
    }

    /// Width of token ids.
    pub fn token_bits(&self) -> u32 {
        clog2(self.vocab()).max(1)
    }

    /// Width of the `pos` output (counts up to `max_seq`).
    pub fn pos_bits(&self) -> u32 {
        clog2(self.max_seq() + 1).max(1)
    }

    /// Cycles from taking a token at position `pos` to knowing the next one: the token
    /// registered, the embedding, every layer (each but the first preceded by replaying the
    /// residual stream, see [`Replay::latency`]), the final norm, the LM head (a cycle later
    /// on a pool) and the argmax.
    pub fn cycles_per_token(&self, pos: usize) -> u64 {
        let layers = self.decoder.layers() as u64;
        TOKEN_DELAY
            + self.embedding.latency()
            + layers * self.decoder.latency(pos)
            + (layers - 1) * self.residual().latency()
            + self.final_norm.latency()
            + self.decoder.shared_lanes().map_or(0, |_| HEAD_DELAY)
            + self.lm_head.latency()
            + self.argmax.latency()
    }

    /// The matrix units, named, with the number of times each runs per token.
    pub fn matvecs(&self) -> Vec<(&'static str, &FixedWeightMatVec, usize)> {
        let layers = self.decoder.layers();
        let mut v: Vec<_> = self
            .decoder
            .matvecs()
            .into_iter()
            .map(|(name, mv)| (name, mv, layers))
            .collect();
        v.push(("lm_head", &self.lm_head, 1));
        v
    }

    /// Weight multiply-accumulates per token.
    pub fn weight_macs_per_token(&self) -> u64 {
        self.matvecs()
            .iter()
            .map(|(_, mv, runs)| (mv.matrices[0].rows * mv.matrices[0].cols * runs) as u64)
            .sum()
    }

    /// Weight multipliers in the design: the units' own, and the pool's once.
    pub fn weight_multipliers(&self) -> u64 {
        let units = self.matvecs();
        let own = (units.iter())
            .filter(|(_, mv, _)| !mv.store.shared())
            .map(|(_, mv, _)| mv.multipliers() as u64)
            .sum::<u64>();
        own + self.decoder.shared_lanes().unwrap_or(0) as u64
    }

    /// The throughput bound: weight multiply-accumulates per token over weight multipliers.
    pub fn cycles_per_token_bound(&self) -> u64 {
        self.weight_macs_per_token()
            .div_ceil(self.weight_multipliers().max(1))
    }
}

impl LlamaCore {
    /// The LM head's output stream, from its own unit, or from the pool the decoder's units
    /// share with it. The pool runs the head from the final norm's first output until the
    /// head's last output (the decoder's units are idle then); otherwise it runs the job the
    /// decoder asks for, on the decoder's input, and hands it the output.
    fn lm_head_output<'a>(
        &self,
        m: &'a ModuleBuilder<'a>,
        decoder: &Instance<'a>,
        final_norm: &Instance<'a>,
        layer: Signal<'a>,
    ) -> Source<'a> {
        let Some(pool) = self.pool() else {
            let lm_head = m.instance("u_lm_head", &self.lm_head);
            lm_head.input("layer", m.lit(0, Type::BOOL));
            lm_head.stream_input("x", final_norm.stream_output("y"));
            return lm_head.stream_output("y");
        };
        let (in_bits, job_bits) = (pool.input_bits(), pool.job_bits());
        let units = m.instance("u_matrices", &pool);
        let (y_valid, y) = units.stream_output("y").parts();
        let y_last = units.output("y_last");
        let (norm_valid, norm_y) = final_norm.stream_output("y").parts();
        // The head's job from the cycle after the final norm's first output (a register, so
        // the pool's job select starts at a flip-flop), and the norm's output a cycle late
        // to meet it.
        let running = m.reg("head", Type::BOOL).reset(0);
        running.next_when(norm_valid, m.lit(1, Type::BOOL));
        running.next_when(y_valid & y_last & running.q(), m.lit(0, Type::BOOL));
        let head = running.q();
        let late_valid = m.reg("head_x_valid", Type::BOOL).reset(0);
        late_valid.next(norm_valid);
        let late_y = m.reg("head_x", norm_y.ty());
        late_y.next(norm_y);
        let (norm_valid, norm_y) = (late_valid.q(), late_y.q());
        let head_job = m.lit((pool.units.len() - 1) as i64, Type::unsigned(job_bits));
        units.input(
            "job",
            head.mux(head_job, decoder.output("mv_job").resize(job_bits)),
        );
        units.input("layer", layer);
        let (x_valid, x) = decoder.stream_output("mv_x").parts();
        units.stream_input(
            "x",
            Source::new(
                head.mux(norm_valid, x_valid),
                head.mux(norm_y.resize(in_bits), x.resize(in_bits)),
            ),
        );
        let out_bits = self.decoder.pool_out_bits();
        decoder.stream_input("mv_y", Source::new(y_valid & !head, y.resize(out_bits)));
        decoder.input("mv_y_last", y_last);
        Source::new(y_valid & head, y.resize(self.lm_head.out_bits()))
    }
}

/// Cycles the final norm's output waits before the pool takes it for the LM head: the cycle
/// in which the pool's job select turns to the head.
const HEAD_DELAY: u64 = 1;

/// Cycles a token waits in a register before the embedding takes it, so the sequencer's
/// decision (a compare of the count left and the position) and the embedding's table address
/// are in different cycles.
const TOKEN_DELAY: u64 = 1;

/// Where [`LlamaCore`]'s sequencer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a prompt token (or `start`).
    Waiting,
    /// Running one token through the layers.
    Running,
    /// Offering a generated token on `out_*`.
    Offering,
}

impl States for Phase {
    const ALL: &'static [Self] = &[Phase::Waiting, Phase::Running, Phase::Offering];
}

impl Block for LlamaCore {
    fn name(&self) -> String {
        format!(
            "llama_core_{}l_{}h_{}v",
            self.decoder.layers(),
            self.decoder.hidden(),
            self.vocab()
        )
    }

    fn build(&self, m: &ModuleBuilder<'_>) {
        let (tb, pb) = (self.token_bits(), self.pos_bits());
        let layers = self.decoder.layers();
        let lb = self.decoder.layer_bits();

        let io = TokenIo::provide(m, tb);
        let TokenIo {
            start,
            in_valid,
            in_token,
            in_last,
            max_new,
            out_ready,
            ..
        } = io;

        let state = m.fsm("state", Phase::Waiting);
        let (waiting, offering) = (state.is(Phase::Waiting), state.is(Phase::Offering));
        let pos = m.reg("position", Type::unsigned(pb)).reset(0);
        let generating = m.reg("generating", Type::BOOL).reset(0);
        let remaining = m.reg("remaining", Type::unsigned(MAX_NEW_BITS)).reset(0);
        let result = m.reg("result", Type::unsigned(tb)).reset(0);
        let layer = m.reg("layer", Type::unsigned(lb)).reset(0);

        let full = pos.q().eq(self.max_seq() as i64);
        let in_ready = waiting & !full;
        let accept = in_ready & in_valid;
        let out_last = remaining.q().eq(1i64) | full;
        let fire_out = offering & out_ready;
        let feedback = fire_out & !out_last;
        let go = accept | feedback;

        let embedding = m.instance("u_embedding", &self.embedding);
        let token_valid = m.reg("token_valid", Type::BOOL).reset(0);
        token_valid.next(go);
        let token = m.reg("token", Type::unsigned(tb));
        token.next(accept.mux(in_token, result.q()));
        embedding.stream_input("token", Source::new(token_valid.q(), token.q()));

        // The residual stream between layers: written as a layer finishes, replayed into the
        // next layer.
        let decoder = m.instance("u_decoder", &self.decoder);
        let dec_y_valid = decoder.output("y_valid");
        let last_layer = layer.q().eq((layers - 1) as i64);
        let to_buffer = dec_y_valid & !last_layer;
        let residual = m.instance("u_residual", &self.residual());
        residual.stream_input("x", Source::new(to_buffer, decoder.output("y")));
        let layer_done = residual.output("x_last");
        let (replay_valid, replay_data) = residual.stream_output("y").parts();
        layer.next_when(layer_done, layer.q().wrapping_add(1));
        layer.next_when(go, m.lit(0, layer.q().ty()));

        let emb_valid = embedding.output("y_valid");
        decoder.input("layer", layer.q());
        decoder.input("pos", pos.q().resize(self.decoder.pos_bits()));
        decoder.stream_input(
            "x",
            Source::new(
                emb_valid | replay_valid,
                emb_valid.mux(embedding.output("y"), replay_data),
            ),
        );

        let final_norm = m.instance("u_final_norm", &self.final_norm);
        final_norm.input("layer", m.lit(0, Type::BOOL));
        final_norm.stream_input(
            "x",
            Source::new(dec_y_valid & last_layer, decoder.output("y")),
        );
        let argmax = m.instance("u_argmax", &self.argmax);
        argmax.stream_input(
            "x",
            self.lm_head_output(m, &decoder, &final_norm, layer.q()),
        );
        let done = argmax.output("index_valid");

        // Sequencing. `go`, `done` and `fire_out` belong to different phases, so at most one
        // holds; `start` and a token may come together (a conversation that begins with it).
        let offer = generating.q() & remaining.q().ne(0i64);
        let stop = || {
            state.goto(Phase::Waiting);
            generating.next(m.lit(0, Type::BOOL));
        };
        m.when(go, || state.goto(Phase::Running));
        m.when(waiting & start, || {
            pos.next(m.lit(0, pos.q().ty()));
            generating.next(m.lit(0, Type::BOOL));
        });
        m.when(accept, || {
            generating.next(in_last);
            m.when(in_last, || remaining.next(max_new));
        });
        m.when(done, || {
            result.next(argmax.output("index").resize(tb));
            pos.next(pos.q().wrapping_add(1));
            m.when(offer, || state.goto(Phase::Offering))
                .otherwise(stop);
        });
        m.when(fire_out, || {
            remaining.next(remaining.q().wrapping_sub(1));
            m.when(out_last, stop);
        });

        m.assign(io.in_ready, in_ready);
        m.assign(io.out_valid, offering);
        m.assign(io.out_token, result.q());
        m.assign(io.out_last, offering & out_last);
        m.output("pos", pos.q());
    }
}
