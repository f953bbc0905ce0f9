// Memories that synth_ecp5 maps to one DP16KD block RAM each, every data width the
// mapping uses: ROMs read from .mem files at 1, 2, 4, 9 and 18 bits, a simple dual-port
// RAM with a 36-bit write port and 9-bit byte enables (PDPW16KD), and single-port RAMs
// that, while they write, read the old word (18 bits, byte enables: READBEFOREWRITE),
// the new word (18 bits: WRITETHROUGH) or hold their output (9 bits: NORMAL).
// tests/codegen/test_netlist.py runs this RTL beside its synthesized netlist.
module memories(
    input clk, input en, input we, input [3:0] be,
    input [13:0] addr, input [8:0] waddr, input [35:0] wdata,
    output reg [0:0] r1, output reg [1:0] r2, output reg [3:0] r4, output reg [8:0] r9,
    output reg [17:0] r18, output reg [35:0] r36, output reg [17:0] rw18,
    output reg [17:0] rt18, output reg [8:0] rn9);
    (* rom_style = "block" *) reg [0:0] m1 [0:16383];
    (* rom_style = "block" *) reg [1:0] m2 [0:8191];
    (* rom_style = "block" *) reg [3:0] m4 [0:4095];
    (* rom_style = "block" *) reg [8:0] m9 [0:2047];
    (* rom_style = "block" *) reg [17:0] m18 [0:999];
    (* ram_style = "block" *) reg [35:0] m36 [0:511];
    (* ram_style = "block" *) reg [17:0] mw [0:1023];
    (* ram_style = "block" *) reg [17:0] mt [0:1023];
    (* ram_style = "block" *) reg [8:0] mn [0:2047];
    initial begin
        $readmemh("m1.mem", m1); $readmemh("m2.mem", m2); $readmemh("m4.mem", m4);
        $readmemh("m9.mem", m9); $readmemh("m18.mem", m18); $readmemh("m36.mem", m36);
        $readmemh("mw.mem", mw); $readmemh("mt.mem", mt); $readmemh("mn.mem", mn);
    end
    integer i;
    always @(posedge clk) begin
        if (en) begin
            r1 <= m1[addr]; r2 <= m2[addr[12:0]]; r4 <= m4[addr[11:0]]; r9 <= m9[addr[10:0]];
            r18 <= m18[addr[9:0]]; r36 <= m36[addr[8:0]]; rw18 <= mw[addr[9:0]];
        end
        for (i = 0; i < 4; i = i + 1)
            if (we && be[i]) m36[waddr][i*9 +: 9] <= wdata[i*9 +: 9];
        for (i = 0; i < 2; i = i + 1)
            if (en && we && be[i]) mw[addr[9:0]][i*9 +: 9] <= wdata[i*9 +: 9];
        if (en) begin
            if (we) mt[addr[9:0]] <= wdata[17:0];
            rt18 <= we ? wdata[17:0] : mt[addr[9:0]];
            if (we) mn[addr[10:0]] <= wdata[26:18];
            else rn9 <= mn[addr[10:0]];
        end
    end
endmodule
