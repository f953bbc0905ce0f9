// Port lists of the 7-series primitives amaranth's Xilinx platform instantiates
// (UG953), as empty modules: vendor primitives are black boxes to the linter.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off UNDRIVEN */
module IBUF #(parameter IOSTANDARD = "DEFAULT", parameter IBUF_LOW_PWR = "TRUE") (
    output O, input I);
endmodule
module OBUFT #(parameter IOSTANDARD = "DEFAULT", parameter SLEW = "SLOW",
               parameter DRIVE = 12) (output O, input I, input T);
endmodule
module FDPE #(parameter [0:0] INIT = 1'b1, parameter [0:0] IS_C_INVERTED = 1'b0,
              parameter [0:0] IS_D_INVERTED = 1'b0, parameter [0:0] IS_PRE_INVERTED = 1'b0)
             (output reg Q, input C, input CE, input D, input PRE);
endmodule
module BUFGCTRL #(parameter SIM_DEVICE = "7SERIES", parameter INIT_OUT = 0, parameter PRESELECT_I0 = "FALSE",
                  parameter PRESELECT_I1 = "FALSE", parameter [0:0] IS_CE0_INVERTED = 1'b0,
                  parameter [0:0] IS_CE1_INVERTED = 1'b0, parameter [0:0] IS_I0_INVERTED = 1'b0,
                  parameter [0:0] IS_I1_INVERTED = 1'b0, parameter [0:0] IS_IGNORE0_INVERTED = 1'b0,
                  parameter [0:0] IS_IGNORE1_INVERTED = 1'b0, parameter [0:0] IS_S0_INVERTED = 1'b0,
                  parameter [0:0] IS_S1_INVERTED = 1'b0)
                 (output O, input CE0, input CE1, input I0, input I1, input IGNORE0,
                  input IGNORE1, input S0, input S1);
endmodule
module STARTUPE2 #(parameter PROG_USR = "FALSE", parameter real SIM_CCLK_FREQ = 0.0)
                  (output CFGCLK, output CFGMCLK, output EOS, output PREQ, input CLK,
                   input GSR, input GTS, input KEYCLEARB, input PACK, input USRCCLKO,
                   input USRCCLKTS, input USRDONEO, input USRDONETS);
endmodule
