//! The DSL tour from README.md: a three-tap FIR filter, simulated and exported.

use hardwire::hdl::prelude::*;
use hardwire::hdl::verilog::Verilog;
use hardwire::sim::Simulator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let design = Design::build("fir3", |m| {
        let x = m.input("x", Type::signed(8));
        let z1 = m.reg("z1", Type::signed(8)).reset(0);
        let z2 = m.reg("z2", Type::signed(8)).reset(0);
        z1.next(x);
        z2.next(z1.q());
        // Products with constants become shifts and adds; sums grow so nothing overflows.
        m.output("y", x * 3 + z1.q() * -5 + z2.q() * 7);
    })?;

    let mut sim = Simulator::new(&design)?;
    sim.reset(1)?;
    for x in [1, 0, 0] {
        sim.poke_i64("x", x)?;
        print!("{} ", sim.peek_i64("y")?); // the impulse response: 3 -5 7
        sim.step();
    }
    print!("\n{}", Verilog::from_design(&design).single_file());
    Ok(())
}
