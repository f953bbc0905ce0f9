// The netlist of ecp5_memories.v (module `memories`, in ECP5 cells) beside its RTL
// (renamed `memories_rtl`), driven alike with random enables, byte enables, addresses
// and data for 40,000 cycles; every read output is compared after every clock edge.
module tb;
    reg clk = 0, en = 0, we = 0;
    reg [3:0] be = 0;
    reg [13:0] addr = 0;
    reg [8:0] waddr = 0, flip;
    reg [35:0] wdata = 0;
    wire [0:0] a1, b1; wire [1:0] a2, b2; wire [3:0] a4, b4; wire [8:0] a9, b9;
    wire [17:0] a18, b18, aw, bw, at, bt; wire [35:0] a36, b36; wire [8:0] an, bn;
    memories     net(.clk(clk), .en(en), .we(we), .be(be), .addr(addr), .waddr(waddr),
                     .wdata(wdata), .r1(a1), .r2(a2), .r4(a4), .r9(a9), .r18(a18), .r36(a36),
                     .rw18(aw), .rt18(at), .rn9(an));
    memories_rtl rtl(.clk(clk), .en(en), .we(we), .be(be), .addr(addr), .waddr(waddr),
                     .wdata(wdata), .r1(b1), .r2(b2), .r4(b4), .r9(b9), .r18(b18), .r36(b36),
                     .rw18(bw), .rt18(bt), .rn9(bn));
    integer cycle, reads = 0, bad = 0;
    initial begin
        for (cycle = 0; cycle < 40000; cycle = cycle + 1) begin
            en = $random; we = $random; be = $random; addr = $random;
            flip = $random; if (flip == 0) flip = 1;
            waddr = addr[8:0] ^ flip;  // the simple dual-port RAM: never the address read
            wdata = {$random, $random};
            #1 clk = 1;
            #1 clk = 0;
            if (en) reads = reads + 1;
            if ({a1, a2, a4, a9, a18, a36, aw, at, an}
                !== {b1, b2, b4, b9, b18, b36, bw, bt, bn}) begin
                if (bad < 5)
                    $display("cycle %0d: netlist %h %h %h %h %h %h %h %h %h, rtl %h %h %h %h %h %h %h %h %h",
                             cycle, a1, a2, a4, a9, a18, a36, aw, at, an,
                             b1, b2, b4, b9, b18, b36, bw, bt, bn);
                bad = bad + 1;
            end
        end
        $display("reads %0d mismatching %0d", reads, bad);
        $finish;
    end
endmodule
