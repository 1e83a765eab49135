// eie_harness: the host side of the accelerator's protocol (docs/eie.md, "Host protocol"),
// replayed from a transaction file at one transaction per clock, with no Python in the loop.
// Verilog-2005 (Icarus -g2005 and Verilator). Depends on the configuration only through two
// widths (HB: host data bus, TW: trace data = n_pe * act_bits); never on a model.
//
// Plusargs: +hwq_job=FILE (input), +hwq_out=FILE (output), +hwq_max_cycles=N (per start).
// Input, one transaction per line, hex fields "op addr data":
//   1 A D  write D at host address A          (host_we for one cycle)
//   2 0 0  pulse start for one cycle
//   3 0 0  wait until done (the cycle count of the run is written as "C n")
//   4 A 0  read host address A                (the data is written as "R d")
//   0 0 0  end: drain the read pipeline, then raise `finished`
// Output lines: "T layer row data" for every cycle with trace_valid high (every layer's output
// rows), "R data", "C cycles" (cycles from the cycle start is sampled in to the first cycle
// with done high, counted here independently of the accelerator's own counter), and
// "E message" on an error (unknown transaction, X on the trace port, no done in time).
// The clock comes from outside (cocotb); reset is driven here for the first two cycles.
module eie_harness #(parameter HB = 64, parameter TW = 64) (input clk, output reg finished);
  reg rst;
  reg [31:0] host_addr;
  reg [HB-1:0] host_wdata;
  reg host_we, host_re, start;
  wire [HB-1:0] host_rdata;
  wire busy, done, trace_valid;
  wire [7:0] trace_layer;
  wire [15:0] trace_row;
  wire [TW-1:0] trace_data;

  eie_top dut(.clk(clk), .rst(rst), .host_addr(host_addr), .host_wdata(host_wdata), .host_we(host_we),
              .host_re(host_re), .host_rdata(host_rdata), .start(start), .busy(busy), .done(done),
              .trace_valid(trace_valid), .trace_layer(trace_layer), .trace_row(trace_row),
              .trace_data(trace_data));

  reg [8*1024-1:0] job_path, out_path;
  integer fi, fo, got, max_cycles;
  reg [3:0] op;
  reg [31:0] t_addr;
  reg [HB-1:0] t_data;
  reg [31:0] cnt;
  reg [1:0] rst_left, drain;
  reg re_q;

  task fetch;
    begin
      got = $fscanf(fi, "%h %h %h\n", op, t_addr, t_data);
      if (got != 3) op = 0;
    end
  endtask

  initial begin
    finished = 0; rst = 1; host_addr = 0; host_wdata = 0; host_we = 0; host_re = 0; start = 0;
    cnt = 0; rst_left = 2; drain = 0; re_q = 0; op = 0; t_addr = 0; t_data = 0;
    if (!$value$plusargs("hwq_job=%s", job_path)) job_path = "hwq_job.txt";
    if (!$value$plusargs("hwq_out=%s", out_path)) out_path = "hwq_out.txt";
    if (!$value$plusargs("hwq_max_cycles=%d", max_cycles)) max_cycles = 1000000;
    fi = $fopen(job_path, "r");
    fo = $fopen(out_path, "w");
    if (fi == 0 || fo == 0) begin
      $display("eie_harness: cannot open %0s or %0s", job_path, out_path);
      finished = 1;
    end else
      fetch;
  end

  always @(posedge clk) re_q <= host_re;

  always @(posedge clk) begin
    if (rst_left != 0) begin
      rst_left <= rst_left - 1;
      if (rst_left == 1) rst <= 0;
    end else if (!finished) begin
      // what the previous cycle showed (sampled before this edge's updates)
      if (re_q) $fwrite(fo, "R %h\n", host_rdata);
      if (trace_valid) begin
        if (^trace_data === 1'bx) $fwrite(fo, "E trace X at layer %0d row %0d\n", trace_layer, trace_row);
        $fwrite(fo, "T %h %h %h\n", trace_layer, trace_row, trace_data);
      end
      host_we <= 0;
      host_re <= 0;
      start <= 0;
      case (op)
        1: begin host_addr <= t_addr; host_wdata <= t_data; host_we <= 1; fetch; end
        2: begin start <= 1; cnt <= 0; fetch; end
        3: if (done && !start) begin
             $fwrite(fo, "C %h\n", cnt);
             fetch;
           end else if (cnt > max_cycles) begin
             $fwrite(fo, "E no done after %0d cycles (deadlock?)\n", max_cycles);
             $fclose(fo);
             finished <= 1;
           end else
             cnt <= cnt + 1;
        4: begin host_addr <= t_addr; host_re <= 1; fetch; end
        0: begin
             drain <= drain + 1;
             if (drain == 2) begin
               $fclose(fo);
               finished <= 1;
             end
           end
        default: begin
          $fwrite(fo, "E unknown transaction %0d\n", op);
          $fclose(fo);
          finished <= 1;
        end
      endcase
    end
  end
endmodule
