//! A short tour: a FIR filter with fixed taps, exported to Verilog.
use hardwire_hdl::prelude::*;
use hardwire_hdl::verilog::Verilog;

#[derive(Clone, PartialEq)]
struct Fir {
    taps: Vec<i64>,
}

impl Block for Fir {
    fn name(&self) -> String {
        format!("fir{}", self.taps.len())
    }
    fn build(&self, m: &ModuleBuilder) {
        let x = m.input("x", Type::signed(8));
        let mut acc = m.lit(0, Type::signed(1));
        let mut sample = x;
        for (i, &c) in self.taps.iter().enumerate() {
            acc = acc + sample * c;
            let delay = m.reg(&format!("z{i}"), Type::signed(8)).reset(0);
            delay.next(sample);
            sample = delay.q();
        }
        let y = m.reg("y_q", Type::signed(16)).reset(0);
        y.next(acc.saturate(16));
        m.output("y", y.q());
    }
}

fn main() {
    let design = Design::elaborate(&Fir {
        taps: vec![3, -5, 7, 0, 16],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let v = Verilog::from_design(&design);
    print!("{}", v.single_file());
}
