//! The VCD writer: a well-formed header with the hierarchy as scopes, a clock, one sample per
//! cycle, and only changes after the first.

mod common;

use std::collections::HashMap;

use common::{Mb, Shared};
use hardwire_hdl::ir::{BinaryOp, Design, ModuleId, Type};
use hardwire_sim::Simulator;

/// A counter in a child, a 70-bit input and its sum with the count in the top.
fn design() -> Design {
    let mut c = Mb::new("counter", true);
    let (r, q) = c.reg("count", Type::unsigned(4), Some(0));
    let one = c.konst(1, Type::unsigned(4));
    let inc = c.bin(BinaryOp::Add, q, one);
    let inc = c.resize(inc, 4);
    c.set_next(r, inc, None);
    c.output("value", q);
    let child = c.m.clone();
    let mut p = Mb::new("top", true);
    let wide = p.input("wide", Type::unsigned(70));
    let u = p.instance("u_cnt", ModuleId(0), &child, &[]);
    let v = p.inst_out(u, &child, "value");
    let v70 = p.resize(v, 70);
    let sum = p.bin(BinaryOp::Add, wide, v70);
    p.output("sum", sum);
    Design {
        modules: vec![child, p.m],
        top: ModuleId(1),
    }
}

#[test]
fn vcd_declares_the_hierarchy_and_dumps_changes_per_cycle() {
    let out = Shared::default();
    {
        let mut sim = Simulator::new(&design()).unwrap();
        sim.trace_vcd(out.clone()).unwrap();
        sim.reset(1).unwrap();
        sim.poke_bits("wide", &hardwire_hdl::Bits::from_words(&[0, 1], 70))
            .unwrap();
        sim.run(3);
        sim.flush_vcd().unwrap();
    }
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    if std::env::var_os("SHOW_VCD").is_some() {
        println!("{text}");
    }
    let (header, body) = text.split_once("$enddefinitions $end\n").expect("a header");
    assert!(header.contains("$timescale 1ns $end"));
    // Scopes nest: top, then the instance inside it.
    let top = header.find("$scope module top $end").expect("top scope");
    let child = header
        .find("$scope module u_cnt $end")
        .expect("instance scope");
    assert!(top < child);
    let mut ids: HashMap<String, (String, u32)> = HashMap::new();
    for line in header.lines().filter(|l| l.starts_with("$var")) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 6, "{line}");
        assert_eq!(f[5], "$end");
        let width: u32 = f[2].parse().unwrap();
        let prev = ids.insert(f[3].to_string(), (f[4].to_string(), width));
        // One id may name several signals (a port and its wire), always with one width.
        if let Some((_, w)) = prev {
            assert_eq!(w, width);
        }
    }
    let names: Vec<&str> = ids.values().map(|(n, _)| n.as_str()).collect();
    for n in ["clk", "rst", "wide", "sum", "count"] {
        assert!(names.contains(&n), "{n} declared in {names:?}");
    }
    let id_of = |name: &str| -> String {
        header
            .lines()
            .find(|l| l.starts_with("$var") && l.split_whitespace().nth(4) == Some(name))
            .and_then(|l| l.split_whitespace().nth(3))
            .unwrap()
            .to_string()
    };
    let (count, clk, sum) = (id_of("count"), id_of("clk"), id_of("sum"));
    // Walk the body: times increase; every change names a declared id with a value that
    // fits its width; record the count at each time.
    let mut time = None;
    let mut counts = Vec::new();
    let mut clk_edges = 0;
    let mut sums = Vec::new();
    for line in body.lines() {
        if let Some(t) = line.strip_prefix('#') {
            let t: u64 = t.parse().unwrap();
            assert!(time.is_none_or(|p| t > p), "time goes forward");
            time = Some(t);
        } else if line.starts_with('$') {
            continue;
        } else if let Some(rest) = line.strip_prefix('b') {
            let (bits, id) = rest.split_once(' ').unwrap();
            let (_, width) = &ids[id];
            assert!(bits.len() as u32 <= *width && bits.chars().all(|c| c == '0' || c == '1'));
            let v = u128::from_str_radix(bits, 2).unwrap();
            if id == count {
                counts.push((time.unwrap(), v));
            }
            if id == sum {
                sums.push((time.unwrap(), v));
            }
        } else {
            let (v, id) = line.split_at(1);
            assert!(ids.contains_key(id), "{line}");
            if id == clk && v == "1" {
                clk_edges += 1;
            }
        }
    }
    // Cycle 0 before reset (count 0), reset edge (0), then 1, 2, 3 at 10 ns per cycle;
    // a value that does not change is not repeated.
    assert_eq!(counts, vec![(0, 0), (20, 1), (30, 2), (40, 3)]);
    assert_eq!(clk_edges, 4, "a rising edge at the start of cycles 1 to 4");
    assert_eq!(sums.last(), Some(&(40, (1u128 << 64) + 3)));
}

/// GTKWave's own reader accepts the file: `vcd2fst` (from the gtkwave package) converts it
/// and `fst2vcd` gives back the same hierarchy and final values. Skipped without gtkwave.
#[test]
fn gtkwave_reads_the_waveform() {
    let ok = |cmd: &str| {
        std::process::Command::new(cmd)
            .arg("--help")
            .output()
            .is_ok()
    };
    if !ok("vcd2fst") || !ok("fst2vcd") {
        eprintln!("vcd2fst/fst2vcd not installed; skipping");
        return;
    }
    let dir = std::env::temp_dir().join(format!("hardwire-sim-vcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (vcd, fst) = (dir.join("trace.vcd"), dir.join("trace.fst"));
    {
        let mut sim = Simulator::new(&design()).unwrap();
        sim.trace_vcd(std::fs::File::create(&vcd).unwrap()).unwrap();
        sim.reset(1).unwrap();
        sim.run(20);
        assert_eq!(sim.peek("u_cnt.count").unwrap(), 4);
    }
    let status = std::process::Command::new("vcd2fst")
        .arg(&vcd)
        .arg(&fst)
        .status()
        .unwrap();
    assert!(status.success());
    let back = std::process::Command::new("fst2vcd")
        .arg(&fst)
        .output()
        .unwrap();
    let back = String::from_utf8_lossy(&back.stdout);
    assert!(back.contains("$scope module u_cnt $end"), "{back}");
    assert!(back.contains("count"));
    // The counter wraps at 16: after the reset edge and 20 more it holds 4, written by the
    // final flush when the simulator is dropped.
    let id = back
        .lines()
        .find(|l| l.starts_with("$var") && l.split_whitespace().nth(4) == Some("count"))
        .and_then(|l| l.split_whitespace().nth(3))
        .expect("count is declared")
        .to_string();
    let last = back
        .lines()
        .rev()
        .find(|l| l.starts_with('b') && l.ends_with(&format!(" {id}")));
    assert_eq!(
        last.map(|l| l.split_whitespace().next().unwrap()),
        Some("b0100"),
        "fst2vcd writes full width"
    );
    std::fs::remove_dir_all(&dir).ok();
}
