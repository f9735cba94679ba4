## Arty A7-100T (xc7a100tcsg324-1) pin constraints for hardwire's board top.
##
## Sites and I/O standards follow Digilent's master constraint file, Arty-A7-100-Master.xdc
## (digilent-xdc), which also names the nets: CLK100MHZ, ck_rst (active low), btn[0],
## uart_rxd_out / uart_txd_in (named from the FPGA's side) and led[3:0]. The port names below
## are those of the generated top `arty_a7_100t_top`.

## 100 MHz oscillator (master XDC: "CLK100MHZ" at E3).
set_property -dict { PACKAGE_PIN E3 IOSTANDARD LVCMOS33 } [get_ports { clk100mhz }];
create_clock -add -name sys_clk_pin -period 10.00 -waveform {0 5} [get_ports { clk100mhz }];

## Reset: the RESET button (master XDC: "ck_rst" at C2, pressed = 0).
set_property -dict { PACKAGE_PIN C2 IOSTANDARD LVCMOS33 } [get_ports { ck_rst }];

## USB-UART through the FT2232 (master XDC: "uart_rxd_out" at D10, the FPGA transmits;
## "uart_txd_in" at A9, the FPGA receives).
set_property -dict { PACKAGE_PIN D10 IOSTANDARD LVCMOS33 } [get_ports { uart_rxd_out }];
set_property -dict { PACKAGE_PIN A9 IOSTANDARD LVCMOS33 } [get_ports { uart_txd_in }];

## Green LEDs LD4..LD7 (master XDC: "led[0]".."led[3]" at H5 J5 T9 T10).
set_property -dict { PACKAGE_PIN H5 IOSTANDARD LVCMOS33 } [get_ports { led[0] }];
set_property -dict { PACKAGE_PIN J5 IOSTANDARD LVCMOS33 } [get_ports { led[1] }];
set_property -dict { PACKAGE_PIN T9 IOSTANDARD LVCMOS33 } [get_ports { led[2] }];
set_property -dict { PACKAGE_PIN T10 IOSTANDARD LVCMOS33 } [get_ports { led[3] }];

## The pins are slow and asynchronous to the clock: keep them out of timing.
set_false_path -from [get_ports { ck_rst uart_txd_in }];
set_false_path -to [get_ports { uart_rxd_out led[*] }];

set_property CONFIG_VOLTAGE 3.3 [current_design];
set_property CFGBVS VCCO [current_design];
