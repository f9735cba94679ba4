//! Boards, parts and FPGA flows for hardwire designs.
