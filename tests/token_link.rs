//! The whole tiny model on the serial line: commands sent as real 8N1 waveforms into a
//! `TokenLink<LlamaCore>` come back, decoded from its `tx` line, as the golden model's greedy
//! tokens, in native simulation and, replayed cycle for cycle, under Verilator.

use hardwire::blocks::uart::cycles_per_bit;
use hardwire::blocks::LlamaCore;
use hardwire::blocks::TokenLink;
use hardwire::fpga::top::{token_link_top, ClockPlan};
use hardwire::fpga::Board;
use hardwire::hdl::prelude::*;
use hardwire::model::fixed::{FixedModel, NumericConfig};
use hardwire::model::quant::{QuantPolicy, QuantSpec};
use hardwire::model::{LlamaConfig, LlamaWeights};
use hardwire::sim::cosim::{cosimulate, require_tool, verilator_lint, Backend, Recorder};

// The line-level helpers; the stimulus comes from the Recorder here.
#[allow(dead_code)]
mod serial;

const BAUD: u32 = 115_200;

/// The tiny preset (2 layers, byte-level vocabulary) at 4 bits in groups of 32, with a KV
/// cache of `max_seq` positions.
fn tiny(max_seq: usize) -> FixedModel {
    let w = LlamaWeights::seeded(&LlamaConfig::tiny(), 0).unwrap();
    let policy = QuantPolicy::uniform(QuantSpec {
        bits: 4,
        group_size: Some(32),
        offset: false,
    });
    FixedModel::new(&w, &policy, NumericConfig::tiny(), max_seq).unwrap()
}

/// The core behind a link: reuse 1024 in the decoder and 2048 in the LM head, about 10,000
/// cycles a token, so a run of a few tokens simulates in about a second.
fn link(model: &FixedModel, clock_hz: u64) -> TokenLink<LlamaCore> {
    let core = LlamaCore::from_model(model, 1024, 2048);
    let bits = core.token_bits();
    TokenLink::new(core, bits, clock_hz)
}

/// What the host sends: pieces of bytes, each followed by some idle bit periods.
fn line(link: &TokenLink<LlamaCore>, pieces: &[(Vec<u8>, usize)]) -> Vec<u64> {
    let mut bits = vec![1; 4];
    for (bytes, idle) in pieces {
        bits.extend(serial::frame_bits(bytes, 0));
        bits.extend(std::iter::repeat_n(1, *idle));
    }
    serial::line(&bits, link.clock_hz, link.baud)
}

/// Drives `rx` with `line` (then idle) until the link has been quiet (`busy` low) for two
/// frames after the line ends; returns the bytes decoded from `tx` and the bench.
fn exchange(link: &TokenLink<LlamaCore>, design: &Design, line: &[u64]) -> (Vec<u8>, Recorder) {
    let mut bench = Recorder::new(design, 2).unwrap();
    let (tx, busy) = (bench.signal("tx").unwrap(), bench.signal("busy").unwrap());
    let frame = 10 * cycles_per_bit(link.clock_hz, link.baud) as usize;
    let mut out = Vec::new();
    let mut quiet = 0;
    for c in 0.. {
        bench
            .set("rx", line.get(c).copied().unwrap_or(1) as i64)
            .unwrap();
        out.push(bench.read(tx) as u64);
        quiet = if bench.read(busy) == 1 { 0 } else { quiet + 1 };
        bench.step();
        if c >= line.len() && quiet > 2 * frame {
            break;
        }
        assert!(c < 2_000_000, "the link is still busy after {c} cycles");
    }
    // The link's stream contracts with the core and the transmitter held throughout.
    bench.checks().unwrap();
    (serial::decode(&out, link.clock_hz, link.baud), bench)
}

#[test]
fn a_prompt_sent_at_115200_baud_to_a_25_mhz_core_comes_back_as_the_golden_tokens() {
    let model = tiny(16);
    let link = link(&model, 25_000_000);
    let design = Design::elaborate(&link).unwrap_or_else(|e| panic!("{e}"));
    let prompt: Vec<u32> = b"Hi!".iter().map(|&b| u32::from(b)).collect();
    let golden = model.generate_greedy(&prompt, 4, None).unwrap();
    let command = link.command(4, &prompt);
    assert_eq!(command, [4, 3, b'H', b'i', b'!']);

    let waveform = line(&link, &[(command, 0)]);
    let (bytes, bench) = exchange(&link, &design, &waveform);
    assert_eq!(link.decode(&bytes), golden);
    assert_eq!(
        bytes.len(),
        4,
        "one byte per token of the byte-level vocabulary"
    );

    if !require_tool("verilator") {
        return;
    }
    let report = cosimulate(&design, &bench.stimulus(), Backend::Verilator)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.cycles as usize, bench.cycles());
}

#[test]
fn queued_commands_each_start_afresh_and_a_full_cache_ends_the_answer_early() {
    // 8 cycles a bit: the serial line is no longer what takes the time.
    let model = tiny(8);
    let mut link = link(&model, 8 * u64::from(BAUD));
    link.resync_bits = 40;
    let design = Design::elaborate(&link).unwrap_or_else(|e| panic!("{e}"));
    let long: Vec<u32> = b"cache".iter().map(|&b| u32::from(b)).collect();
    let short = [u32::from(b'x')];

    // A host that gives up halfway (one token of five sent), a command with an empty prompt,
    // then two commands back to back: 6 tokens asked after a 5-token prompt, where the
    // 8-position cache holds 4, then 2 tokens after a 1-token prompt.
    let mut queued = link.command(6, &long);
    queued.extend(link.command(2, &short));
    let waveform = line(
        &link,
        &[(vec![3, 5, b'q'], 60), (vec![9, 0], 0), (queued, 0)],
    );
    let (bytes, bench) = exchange(&link, &design, &waveform);
    let mut want = model.generate_greedy(&long, 4, None).unwrap();
    want.extend(model.generate_greedy(&short, 2, None).unwrap());
    assert_eq!(link.decode(&bytes), want);

    if !require_tool("verilator") {
        return;
    }
    cosimulate(&design, &bench.stimulus(), Backend::Verilator).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_token_link_board_tops_pass_verilator_lint() {
    if !require_tool("verilator") {
        return;
    }
    let model = tiny(16);
    for board in Board::all() {
        let v = token_link_top(&board, link(&model, 1), ClockPlan::Board)
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("token_link_lint")
            .join(board.id);
        let _ = std::fs::remove_dir_all(&dir);
        v.write_to(&dir).unwrap();
        verilator_lint(&dir, &v, &v.top, &["-Wno-DECLFILENAME"])
            .unwrap_or_else(|e| panic!("{}:\n{e}", board.id));
        let top = v.file(&format!("{}.v", v.top)).unwrap();
        assert!(top.contains(board.pins.uart_rx) && top.contains(board.pins.leds.0));
    }
}
