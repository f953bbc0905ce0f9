// qsnas: simulation model of the ECP5 DP16KD block RAM (18 Kbit). Yosys's ECP5 cell
// library declares DP16KD with its ports and parameters only, without behaviour (its
// outputs are never driven: in simulation every read returned 0). This models the
// configurations synth_ecp5's brams_map.v instantiates ($__ECP5_DP16KD_ and
// $__ECP5_PDPW16KD_, the same in Yosys's lattice/brams_map_16kd.v):
// - the contents: INITVAL_00..3F hold 1,024 rows of 18 bits, 16 rows per parameter, each
//   in the low 18 bits of a 20-bit field (brams_map.v's init_slice);
// - data widths 1, 2, 4, 9 and 18 on either port, and 36 (a 36-bit write port A, read
//   port B) for the simple dual port; a port of width w uses address bits [13:log2 w]
//   (x9: [13:3], x18: [13:4], x36: [13:5]). An 18-bit row is two 9-bit halves, a 9-bit
//   word two 4-bit words and a spare bit, a 4-bit word two 2-bit words, a 2-bit word two
//   bits (Yosys's memory library rule for "widths 1 2 4 9 18", which also lays out INIT);
//   a 36-bit word is rows 2k (DIA/DOA) and 2k + 1 (DIB/DOB);
// - byte enables: at x18 ADx0/ADx1 enable bits 8:0 / 17:9; at x36 ADA0..ADA3 enable the
//   four 9-bit bytes of {DIB, DIA}; narrower ports write whole words;
// - each port: on its clock edge (CLKxMUX "INV": the falling one), with its chip select
//   decoded as 0b000: RSTx clears the output (SYNC: at the edge, before CEx; ASYNC: at
//   once), else with CEx a write (WEx) or a read; while writing the output holds (NORMAL),
//   shows the new word (WRITETHROUGH) or the old one (READBEFOREWRITE); REGMODE "NOREG"
//   (the output is the read latch; OCEx unused). The outputs start at 0.
// Not modelled: a word read on one port while the other port writes it in the same
// cycle reads its old value (Lattice leaves it undefined; Yosys's mapping declares no
// cross-port transparency for these blocks, so a correct netlist never relies on it);
// GSR. Any other configuration stops the simulation at time 0.
module DP16KD(
	input DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0,
	input ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0,
	input CEA, OCEA, CLKA, WEA, RSTA,
	input CSA2, CSA1, CSA0,
	output DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0,
	input DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0,
	input ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0,
	input CEB, OCEB, CLKB, WEB, RSTB,
	input CSB2, CSB1, CSB0,
	output DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0
);
	parameter DATA_WIDTH_A = 18;
	parameter DATA_WIDTH_B = 18;
	parameter REGMODE_A = "NOREG";
	parameter REGMODE_B = "NOREG";
	parameter RESETMODE = "SYNC";
	parameter ASYNC_RESET_RELEASE = "SYNC";
	parameter CSDECODE_A = "0b000";
	parameter CSDECODE_B = "0b000";
	parameter WRITEMODE_A = "NORMAL";
	parameter WRITEMODE_B = "NORMAL";
	parameter CLKAMUX = "CLKA";
	parameter CLKBMUX = "CLKB";
	parameter GSR = "ENABLED";
	parameter WID = 0;
	parameter INIT_DATA = "STATIC";
	parameter [319:0] INITVAL_00 = 320'h0;
	parameter [319:0] INITVAL_01 = 320'h0;
	parameter [319:0] INITVAL_02 = 320'h0;
	parameter [319:0] INITVAL_03 = 320'h0;
	parameter [319:0] INITVAL_04 = 320'h0;
	parameter [319:0] INITVAL_05 = 320'h0;
	parameter [319:0] INITVAL_06 = 320'h0;
	parameter [319:0] INITVAL_07 = 320'h0;
	parameter [319:0] INITVAL_08 = 320'h0;
	parameter [319:0] INITVAL_09 = 320'h0;
	parameter [319:0] INITVAL_0A = 320'h0;
	parameter [319:0] INITVAL_0B = 320'h0;
	parameter [319:0] INITVAL_0C = 320'h0;
	parameter [319:0] INITVAL_0D = 320'h0;
	parameter [319:0] INITVAL_0E = 320'h0;
	parameter [319:0] INITVAL_0F = 320'h0;
	parameter [319:0] INITVAL_10 = 320'h0;
	parameter [319:0] INITVAL_11 = 320'h0;
	parameter [319:0] INITVAL_12 = 320'h0;
	parameter [319:0] INITVAL_13 = 320'h0;
	parameter [319:0] INITVAL_14 = 320'h0;
	parameter [319:0] INITVAL_15 = 320'h0;
	parameter [319:0] INITVAL_16 = 320'h0;
	parameter [319:0] INITVAL_17 = 320'h0;
	parameter [319:0] INITVAL_18 = 320'h0;
	parameter [319:0] INITVAL_19 = 320'h0;
	parameter [319:0] INITVAL_1A = 320'h0;
	parameter [319:0] INITVAL_1B = 320'h0;
	parameter [319:0] INITVAL_1C = 320'h0;
	parameter [319:0] INITVAL_1D = 320'h0;
	parameter [319:0] INITVAL_1E = 320'h0;
	parameter [319:0] INITVAL_1F = 320'h0;
	parameter [319:0] INITVAL_20 = 320'h0;
	parameter [319:0] INITVAL_21 = 320'h0;
	parameter [319:0] INITVAL_22 = 320'h0;
	parameter [319:0] INITVAL_23 = 320'h0;
	parameter [319:0] INITVAL_24 = 320'h0;
	parameter [319:0] INITVAL_25 = 320'h0;
	parameter [319:0] INITVAL_26 = 320'h0;
	parameter [319:0] INITVAL_27 = 320'h0;
	parameter [319:0] INITVAL_28 = 320'h0;
	parameter [319:0] INITVAL_29 = 320'h0;
	parameter [319:0] INITVAL_2A = 320'h0;
	parameter [319:0] INITVAL_2B = 320'h0;
	parameter [319:0] INITVAL_2C = 320'h0;
	parameter [319:0] INITVAL_2D = 320'h0;
	parameter [319:0] INITVAL_2E = 320'h0;
	parameter [319:0] INITVAL_2F = 320'h0;
	parameter [319:0] INITVAL_30 = 320'h0;
	parameter [319:0] INITVAL_31 = 320'h0;
	parameter [319:0] INITVAL_32 = 320'h0;
	parameter [319:0] INITVAL_33 = 320'h0;
	parameter [319:0] INITVAL_34 = 320'h0;
	parameter [319:0] INITVAL_35 = 320'h0;
	parameter [319:0] INITVAL_36 = 320'h0;
	parameter [319:0] INITVAL_37 = 320'h0;
	parameter [319:0] INITVAL_38 = 320'h0;
	parameter [319:0] INITVAL_39 = 320'h0;
	parameter [319:0] INITVAL_3A = 320'h0;
	parameter [319:0] INITVAL_3B = 320'h0;
	parameter [319:0] INITVAL_3C = 320'h0;
	parameter [319:0] INITVAL_3D = 320'h0;
	parameter [319:0] INITVAL_3E = 320'h0;
	parameter [319:0] INITVAL_3F = 320'h0;

	reg [17:0] mem [0:1023];

	function automatic reg width_ok(input integer width);
		width_ok = width == 1 || width == 2 || width == 4 || width == 9 || width == 18;
	endfunction

	function automatic reg mode_ok(input [8*15-1:0] mode);
		mode_ok = mode == "NORMAL" || mode == "WRITETHROUGH" || mode == "READBEFOREWRITE";
	endfunction

	task automatic load_row(input integer row, input [319:0] bits);
		integer i;
		for (i = 0; i < 16; i = i + 1)
			mem[row * 16 + i] = bits[i * 20 +: 18];
	endtask

	initial begin
		if (!(DATA_WIDTH_A == 36 ? width_ok(DATA_WIDTH_B) || DATA_WIDTH_B == 36
		                         : width_ok(DATA_WIDTH_A) && width_ok(DATA_WIDTH_B))
		    || REGMODE_A != "NOREG" || REGMODE_B != "NOREG"
		    || CSDECODE_A != "0b000" || CSDECODE_B != "0b000"
		    || !mode_ok(WRITEMODE_A) || !mode_ok(WRITEMODE_B)
		    || (RESETMODE != "SYNC" && RESETMODE != "ASYNC")
		    || (CLKAMUX != "CLKA" && CLKAMUX != "INV") || (CLKBMUX != "CLKB" && CLKBMUX != "INV")) begin
			$display("DP16KD: configuration not modelled (codegen/cells/ecp5_dp16kd.v)");
			$finish;
		end
		load_row(0, INITVAL_00);
		load_row(1, INITVAL_01);
		load_row(2, INITVAL_02);
		load_row(3, INITVAL_03);
		load_row(4, INITVAL_04);
		load_row(5, INITVAL_05);
		load_row(6, INITVAL_06);
		load_row(7, INITVAL_07);
		load_row(8, INITVAL_08);
		load_row(9, INITVAL_09);
		load_row(10, INITVAL_0A);
		load_row(11, INITVAL_0B);
		load_row(12, INITVAL_0C);
		load_row(13, INITVAL_0D);
		load_row(14, INITVAL_0E);
		load_row(15, INITVAL_0F);
		load_row(16, INITVAL_10);
		load_row(17, INITVAL_11);
		load_row(18, INITVAL_12);
		load_row(19, INITVAL_13);
		load_row(20, INITVAL_14);
		load_row(21, INITVAL_15);
		load_row(22, INITVAL_16);
		load_row(23, INITVAL_17);
		load_row(24, INITVAL_18);
		load_row(25, INITVAL_19);
		load_row(26, INITVAL_1A);
		load_row(27, INITVAL_1B);
		load_row(28, INITVAL_1C);
		load_row(29, INITVAL_1D);
		load_row(30, INITVAL_1E);
		load_row(31, INITVAL_1F);
		load_row(32, INITVAL_20);
		load_row(33, INITVAL_21);
		load_row(34, INITVAL_22);
		load_row(35, INITVAL_23);
		load_row(36, INITVAL_24);
		load_row(37, INITVAL_25);
		load_row(38, INITVAL_26);
		load_row(39, INITVAL_27);
		load_row(40, INITVAL_28);
		load_row(41, INITVAL_29);
		load_row(42, INITVAL_2A);
		load_row(43, INITVAL_2B);
		load_row(44, INITVAL_2C);
		load_row(45, INITVAL_2D);
		load_row(46, INITVAL_2E);
		load_row(47, INITVAL_2F);
		load_row(48, INITVAL_30);
		load_row(49, INITVAL_31);
		load_row(50, INITVAL_32);
		load_row(51, INITVAL_33);
		load_row(52, INITVAL_34);
		load_row(53, INITVAL_35);
		load_row(54, INITVAL_36);
		load_row(55, INITVAL_37);
		load_row(56, INITVAL_38);
		load_row(57, INITVAL_39);
		load_row(58, INITVAL_3A);
		load_row(59, INITVAL_3B);
		load_row(60, INITVAL_3C);
		load_row(61, INITVAL_3D);
		load_row(62, INITVAL_3E);
		load_row(63, INITVAL_3F);
	end

	// bit offset of a narrow word in its 18-bit row (see the layout above)
	function automatic integer offset(input integer width, input [13:0] ad);
		offset = (width <= 9 ? ad[3] * 9 : 0) + (width <= 4 ? ad[2] * 4 : 0)
		       + (width <= 2 ? ad[1] * 2 : 0) + (width <= 1 ? ad[0] * 1 : 0);
	endfunction

	// the row bits a write of `width` at `ad` changes (x18: the byte enables in ad[1:0])
	function automatic [17:0] row_mask(input integer width, input [13:0] ad);
		if (width == 18)
			row_mask = {{9{ad[1]}}, {9{ad[0]}}};
		else
			row_mask = ((18'd1 << width) - 18'd1) << offset(width, ad);
	endfunction

	function automatic [17:0] narrow_read(input integer width, input [17:0] row,
	                                      input [13:0] ad);
		narrow_read = width == 18 ? row : (row >> offset(width, ad)) & ((18'd1 << width) - 18'd1);
	endfunction

	function automatic [17:0] merged(input integer width, input [17:0] row, input [13:0] ad,
	                                 input [17:0] data);
		reg [17:0] mask;
		mask = row_mask(width, ad);
		merged = (row & ~mask) | ((width == 18 ? data : data << offset(width, ad)) & mask);
	endfunction

	// a port's output after its clock edge: the word read, or while writing the held
	// output (NORMAL), the new word (WRITETHROUGH) or the old one (READBEFOREWRITE)
	function automatic [17:0] port_out(input integer width, input [8*15-1:0] mode,
	                                   input [17:0] row, input [13:0] ad, input [17:0] data,
	                                   input write, input [17:0] held);
		if (!write || mode == "READBEFOREWRITE")
			port_out = narrow_read(width, row, ad);
		else if (mode == "WRITETHROUGH")
			port_out = narrow_read(width, merged(width, row, ad, data), ad);
		else
			port_out = held;
	endfunction

	wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
	wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};
	wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
	wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
	wire clka = CLKAMUX == "INV" ? ~CLKA : CLKA;
	wire clkb = CLKBMUX == "INV" ? ~CLKB : CLKB;
	wire sel_a = {CSA2, CSA1, CSA0} == 3'b000;
	wire sel_b = {CSB2, CSB1, CSB0} == 3'b000;
	wire arst_a = RESETMODE == "ASYNC" && RSTA;
	wire arst_b = RESETMODE == "ASYNC" && RSTB;
	reg [17:0] doa = 18'd0, dob = 18'd0;
	assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = doa;
	assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = dob;

	generate if (DATA_WIDTH_A == 36) begin : simple_dual_port
		// port A writes 36 bits (rows 2k and 2k + 1), port B reads; a 36-bit read
		// comes out on {DOB, DOA}
		wire [9:0] wrow = {ada[13:5], 1'b0};
		wire [9:0] rrow = {adb[13:5], 1'b0};
		always @(posedge clka)
			if (sel_a && CEA && WEA) begin
				mem[wrow] <= (mem[wrow] & ~{{9{ada[1]}}, {9{ada[0]}}})
				             | (dia & {{9{ada[1]}}, {9{ada[0]}}});
				mem[wrow + 10'd1] <= (mem[wrow + 10'd1] & ~{{9{ada[3]}}, {9{ada[2]}}})
				                     | (dib & {{9{ada[3]}}, {9{ada[2]}}});
			end
		always @(posedge clkb or posedge arst_b)
			if (arst_b || (sel_b && RSTB)) begin
				doa <= 18'd0;
				dob <= 18'd0;
			end else if (sel_b && CEB) begin
				if (DATA_WIDTH_B == 36) begin
					doa <= mem[rrow];
					dob <= mem[rrow + 10'd1];
				end else
					dob <= narrow_read(DATA_WIDTH_B, mem[adb[13:4]], adb);
			end
	end else begin : true_dual_port
		always @(posedge clka or posedge arst_a)
			if (arst_a || (sel_a && RSTA))
				doa <= 18'd0;
			else if (sel_a && CEA) begin
				if (WEA)
					mem[ada[13:4]] <= merged(DATA_WIDTH_A, mem[ada[13:4]], ada, dia);
				doa <= port_out(DATA_WIDTH_A, WRITEMODE_A, mem[ada[13:4]], ada, dia, WEA, doa);
			end
		always @(posedge clkb or posedge arst_b)
			if (arst_b || (sel_b && RSTB))
				dob <= 18'd0;
			else if (sel_b && CEB) begin
				if (WEB)
					mem[adb[13:4]] <= merged(DATA_WIDTH_B, mem[adb[13:4]], adb, dib);
				dob <= port_out(DATA_WIDTH_B, WRITEMODE_B, mem[adb[13:4]], adb, dib, WEB, dob);
			end
	end endgenerate
endmodule
