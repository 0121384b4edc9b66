// Verilator main of the Wuxing co-simulation (sim/wrapper.py): cocotb's VPI main loop, plus a
// free-running clock that never crosses the VPI boundary.
//
// Derived from cocotb's share/lib/verilator/verilator.cpp (Copyright cocotb contributors,
// Revised BSD License). The top module is the generated wrapper ``<design>_cosim``: its ``clk``
// input is driven from here (the wrapper is built with WUXING_HARNESS_CLOCK) and its
// ``wx_running`` output says whether a request of the bench is open. While it is, and no
// cocotb timer falls due, the loop below toggles ``clk`` and evaluates the model directly:
// no VPI callback, no Python, until ``wx_running`` drops (the cycle budget is spent or a
// stop signal such as ``done`` rose). cocotb then sees the change of ``wx_running`` like any
// other value change.

#include <stdio.h>

#include <algorithm>
#include <memory>

#include "Vtop.h"
#include "Vtop___024root.h"
#include "verilated.h"
#include "verilated_vpi.h"

#if VM_TRACE
#if VM_TRACE_FST
#include <verilated_fst_c.h>
using trace_t = VerilatedFstC;
static const char *trace_file = "dump.fst";
#else
#include <verilated_vcd_c.h>
using trace_t = VerilatedVcdC;
static const char *trace_file = "dump.vcd";
#endif
static trace_t *tfp = nullptr;
#endif

static uint64_t main_time = 0;  // in units of the time precision

double sc_time_stamp() { return main_time; }

extern "C" {
void vlog_startup_routines_bootstrap(void);
}

static inline void settle_value_callbacks() {
    while (VerilatedVpi::callValueCbs()) {
    }
}

static inline void dump_trace() {
#if VM_TRACE
    if (tfp) tfp->dump(main_time);
#endif
}

// Verilator detects a rising edge of clk by comparing it with its value at the previous
// evaluation, which it keeps in the root object. Resetting that copy lets one evaluation with
// clk = 1 take a rising edge; the evaluation of the falling edge would do no work in these
// designs (Amaranth's sync domains use rising edges only) other than running the input logic
// again, a third of the time per clock. If this Verilator names the copy otherwise, the first
// overload is dropped and the clock falls back to two evaluations per cycle.
template <typename Root>
static auto arm_rising_edge(Root *root, int) -> decltype(root->__Vtrigprevexpr___TOP__clk__0 = 0,
                                                         true) {
    root->__Vtrigprevexpr___TOP__clk__0 = 0;
    return true;
}
template <typename Root>
static bool arm_rising_edge(Root *, long) {
    return false;
}

// Verilator's eval() runs the input-combinational region ("ico": the logic that reads a
// top-level input, and with it the next-state logic of every register with a synchronous
// reset, which reads rst) before the clock's regions, at every call. While the clock runs
// alone no input changes but clk, and the clock's regions recompute whatever of that logic
// also reads the design's state (Verilator schedules such logic in both regions), so the ico
// pass repeats work: about a tenth of a clock of the 16-lane engine. The free-running loop
// therefore evaluates the clock's regions only ("act" until it settles, then "nba", as the
// generated eval() does after its ico pass), through the generated model's phase functions.
// They are internal to the model: declared weak here, so that a Verilator that names them
// otherwise links all the same and the loop falls back to eval_step(); the loop uses them
// only for a single-threaded model (a multi-threaded one has messages to flush at the end
// of eval_step).
bool Vtop___024root___eval_phase__act(Vtop___024root *) __attribute__((weak));
bool Vtop___024root___eval_phase__nba(Vtop___024root *) __attribute__((weak));

static bool clock_phases_only() {
    return Vtop___024root___eval_phase__act && Vtop___024root___eval_phase__nba &&
           Verilated::threadContextp()->threads() == 1;
}

// Clock the design while the bench's request is open; returns the clocks run. The time
// advances by one period per clock (rising edge at the middle), as with the Icarus clock.
static uint64_t free_run(Vtop *top, uint64_t half_period, bool tracing) {
    uint64_t clocks = 0;
    const uint64_t deadline = VerilatedVpi::cbNextDeadline();  // ~0 when no timer is set
    static const bool phases = clock_phases_only();
    while (top->wx_running && main_time + 2 * half_period <= deadline) {
        main_time += half_period;
        if (!tracing && arm_rising_edge(top->rootp, 0)) {
            top->clk = 1;  // stays high: the next clock re-arms the edge
            if (phases) {  // the rising edge without the ico pass (see above)
                Vtop___024root *root = top->rootp;
                do {
                    while (Vtop___024root___eval_phase__act(root)) {
                    }
                } while (Vtop___024root___eval_phase__nba(root));
            } else {
                top->eval_step();
            }
            main_time += half_period;
        } else {
            top->clk = 1;
            top->eval_step();
            dump_trace();
            main_time += half_period;
            top->clk = 0;
            top->eval_step();
            dump_trace();
        }
        ++clocks;
    }
    if (clocks) top->eval_end_step();
    return clocks;
}

static void wrap_up() {
    VerilatedVpi::callCbs(cbEndOfSimulation);
#if VM_TRACE
    if (tfp) tfp->close();
#endif
}

int main(int argc, char **argv) {
    bool trace_on = false;
    for (int i = 1; i < argc; i++) {
        if (std::string(argv[i]) == "--trace") trace_on = true;
    }
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);  // otherwise it fails on systemtf

    // the wrapper's period is 10 ns (sim/wrapper.py PERIOD_NS); time counts in precision units
    uint64_t half_period = 5;
    for (int p = Verilated::threadContextp()->timeprecision(); p < -9; ++p) half_period *= 10;

    bool tracing = false;
#if VM_TRACE
    Verilated::traceEverOn(true);
    if (trace_on) {
        tfp = new trace_t;
        top->trace(tfp, 99);
        tfp->open(trace_file);
        tracing = true;
    }
#else
    (void)trace_on;
#endif

    vlog_startup_routines_bootstrap();
    Verilated::addExitCb([](void *) { wrap_up(); }, nullptr);
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle_value_callbacks();

    while (!Verilated::gotFinish()) {
        do {
            do {  // evaluate until the events of this time step are processed
                top->eval_step();
                VerilatedVpi::clearEvalNeeded();
                VerilatedVpi::doInertialPuts();
                settle_value_callbacks();
            } while (VerilatedVpi::evalNeeded());
            VerilatedVpi::callCbs(cbReadWriteSynch);
            VerilatedVpi::doInertialPuts();
            settle_value_callbacks();
        } while (VerilatedVpi::evalNeeded());
        top->eval_end_step();
        VerilatedVpi::callCbs(cbReadOnlySynch);
        dump_trace();

        if (top->wx_running && free_run(top.get(), half_period, tracing)) {
            // time moved on inside the design: a new time step, value callbacks first
            VerilatedVpi::callCbs(cbNextSimTime);
            settle_value_callbacks();
            continue;
        }

        // nothing runs by itself: skip ahead to the next cocotb timer (or end)
        const uint64_t none = ~0ULL;
        uint64_t next_time = VerilatedVpi::cbNextDeadline();
        if (top->eventsPending()) next_time = std::min(next_time, top->nextTimeSlot());
        if (top->wx_running) next_time = std::min(next_time, main_time + 2 * half_period);
        if (next_time == none) break;
        main_time = next_time;
        VerilatedVpi::callCbs(cbNextSimTime);
        settle_value_callbacks();
        VerilatedVpi::callTimedCbs();
        settle_value_callbacks();
    }

    top->final();
    wrap_up();
#if VM_TRACE
    delete tfp;
    tfp = nullptr;
#endif
    return Verilated::threadContextp()->errorCount() > 0 ? 1 : 0;
}
