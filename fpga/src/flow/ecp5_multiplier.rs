//! hardwire's multiplier blocks as ECP5 MULT18X18Ds that register their product.
//!
//! yosys' `synth_ecp5` maps a product to a MULT18X18D but leaves the register after it in
//! logic, so the route from the block to that register falls in the multiply's cycle. The
//! ECP5 flow therefore replaces each [`MultiplierBlock`] module (a plain registered product)
//! with the module below, which sets the block's output register (`REG_OUTPUT_CLK`) instead.
//! nextpnr times a MULT18X18D with its output registered from the operands to that register
//! (YosysHQ/nextpnr#435). The block's registers start at zero (`GSR`), as the module's
//! register does in simulation.

use std::fmt::Write;

use hardwire_hdl::primitives::{MultiplierBlock, DSP_BITS};

/// The Verilog of `block` for the ECP5: the same module name and ports as the module
/// [`MultiplierBlock`] builds (`clk`, `rst` unused, `a`, `b`, `p`), around one MULT18X18D.
pub fn mult18x18d_module(block: MultiplierBlock) -> String {
    let signed = u8::from(block.signed);
    let n = DSP_BITS;
    let mut bits = String::new();
    for (port, source) in [("A", "a"), ("B", "b")] {
        let pins: Vec<String> = (0..n)
            .map(|i| format!(".{port}{i}({source}[{i}])"))
            .collect();
        writeln!(bits, "        {},", pins.join(", ")).expect("writing to a String");
    }
    let c: Vec<String> = (0..n).map(|i| format!(".C{i}(1'b0)")).collect();
    writeln!(bits, "        {},", c.join(", ")).expect("writing to a String");
    let p: Vec<String> = (0..2 * n).map(|i| format!(".P{i}(p[{i}])")).collect();
    writeln!(bits, "        {}", p.join(", ")).expect("writing to a String");
    format!(
        "// hardwire's multiplier block `{name}` for the ECP5: a MULT18X18D whose output register
// holds the product (written by the ECP5 flow in place of the generated module).
module {name} (
    input  wire clk,
    input  wire rst,
    input  wire [{hi}:0] a,
    input  wire [{hi}:0] b,
    output wire [{phi}:0] p
);
    MULT18X18D #(
        .REG_OUTPUT_CLK(\"CLK0\"),
        .REG_OUTPUT_CE(\"CE0\"),
        .REG_OUTPUT_RST(\"RST0\")
    ) mult (
        .SIGNEDA(1'b{signed}), .SIGNEDB(1'b{signed}), .SOURCEA(1'b0), .SOURCEB(1'b0),
        .CLK0(clk), .CE0(1'b1), .RST0(1'b0),
{bits}    );
endmodule
",
        name = block.module_name(),
        hi = n - 1,
        phi = 2 * n - 1,
    )
}
