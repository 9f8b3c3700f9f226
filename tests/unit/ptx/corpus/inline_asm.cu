// Inline PTX for instructions nvcc rarely emits on its own.
__global__ void rare(unsigned *u, int *s, float *f, double *d, unsigned long long *w) {
  unsigned a = u[0], b = u[1], c = u[2], r;
  asm("lop3.b32 %0, %1, %2, %3, 0xE8;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[3] = r;
  asm("prmt.b32.f4e %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[4] = r;
  asm("prmt.b32.b4e %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[5] = r;
  asm("prmt.b32.rc8 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[6] = r;
  asm("prmt.b32.ecl %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[7] = r;
  asm("prmt.b32.ecr %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[8] = r;
  asm("prmt.b32.rc16 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[9] = r;
  asm("shf.l.wrap.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[10] = r;
  asm("shf.r.clamp.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[11] = r;
  asm("bfe.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[12] = r;
  asm("bfe.s32 %0, %1, 4, 8;" : "=r"(r) : "r"(a)); u[13] = r;
  asm("bfi.b32 %0, %1, %2, %3, 5;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[14] = r;
  asm("bfind.u32 %0, %1;" : "=r"(r) : "r"(a)); u[15] = r;
  asm("bfind.shiftamt.s32 %0, %1;" : "=r"(r) : "r"(a)); u[16] = r;
  asm("cnot.b32 %0, %1;" : "=r"(r) : "r"(a)); u[17] = r;
  asm("{ .reg .pred p; setp.lt.u32.and p, %1, %2, 1; selp.u32 %0, 1, 2, p; }" : "=r"(r) : "r"(a), "r"(b)); u[18] = r;
  asm("set.gtu.u32.f32 %0, %1, %2;" : "=r"(r) : "f"(f[0]), "f"(f[1])); u[19] = r;
  asm("slct.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[20] = r;
  asm("{ .reg .pred p; testp.notanumber.f32 p, %1; selp.u32 %0, 1, 0, p; }" : "=r"(r) : "f"(f[2])); u[21] = r;
  asm("{ .reg .pred p, q; setp.num.f32 p|q, %1, %2; @q mov.u32 %0, 7; @!q mov.u32 %0, 9; }" : "=r"(r) : "f"(f[0]), "f"(f[1])); u[22] = r;
  asm("mad24.lo.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[23] = r;
  asm("mul24.hi.s32 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b)); u[24] = r;
  asm("sad.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c)); u[25] = r;
  asm("add.sat.s32 %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b)); u[26] = r;
  unsigned lo, hi;
  asm("add.cc.u32 %0, %2, %3; addc.cc.u32 %1, %2, %3; addc.u32 %1, %1, 0;" : "=r"(lo), "=r"(hi) : "r"(a), "r"(b)); u[27] = lo + hi;
  asm("sub.cc.u32 %0, %2, %3; subc.u32 %1, %2, %3;" : "=r"(lo), "=r"(hi) : "r"(a), "r"(b)); u[28] = lo ^ hi;
  asm("mad.lo.cc.u32 %0, %2, %3, %2; madc.hi.u32 %1, %2, %3, 0;" : "=r"(lo), "=r"(hi) : "r"(a), "r"(b)); u[29] = lo ^ hi;
  unsigned long long wide;
  asm("mul.wide.u32 %0, %1, %2;" : "=l"(wide) : "r"(a), "r"(b)); w[0] = wide;
  asm("mad.wide.s32 %0, %1, %2, %3;" : "=l"(wide) : "r"(a), "r"(b), "l"(w[1])); w[2] = wide;
  asm("mul.hi.u64 %0, %1, %2;" : "=l"(wide) : "l"(w[3]), "l"(w[4])); w[5] = wide;
  float x = f[0], y;
  asm("min.NaN.f32 %0, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[3] = y;
  asm("max.ftz.f32 %0, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[4] = y;
  asm("copysign.f32 %0, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[5] = y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); f[6] = y;
  asm("sqrt.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); f[7] = y;
  asm("rsqrt.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); f[8] = y;
  asm("sin.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); f[9] = y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); f[10] = y;
  asm("ex2.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); f[11] = y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x)); f[12] = y;
  asm("cvt.rni.f32.f32 %0, %1;" : "=f"(y) : "f"(x)); f[13] = y;
  asm("cvt.rzi.ftz.sat.f32.f32 %0, %1;" : "=f"(y) : "f"(x)); f[14] = y;
  asm("cvt.rp.f32.f64 %0, %1;" : "=f"(y) : "d"(d[0])); f[15] = y;
  asm("add.rm.ftz.sat.f32 %0, %1, 0f3F800000;" : "=f"(y) : "f"(x)); f[16] = y;
  asm("div.full.f32 %0, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[17] = y;
  asm("div.approx.f32 %0, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[18] = y;
  asm("abs.f32 %0, %1;" : "=f"(y) : "f"(x)); f[19] = y;
  asm("neg.f32 %0, %1;" : "=f"(y) : "f"(x)); f[20] = y;
  asm("fma.rn.sat.f32 %0, %1, %1, %2;" : "=f"(y) : "f"(x), "f"(f[1])); f[21] = y;
  double z;
  asm("rcp.approx.ftz.f64 %0, %1;" : "=d"(z) : "d"(d[0])); d[1] = z;
  asm("div.rn.f64 %0, %1, %2;" : "=d"(z) : "d"(d[0]), "d"(d[1])); d[2] = z;
  asm("sqrt.rn.f64 %0, %1;" : "=d"(z) : "d"(d[0])); d[3] = z;
  int si;
  asm("cvt.sat.s8.s32 %0, %1;" : "=r"(si) : "r"(s[0])); s[1] = si;
  asm("cvt.rni.sat.u16.f32 %0, %1;" : "=r"(si) : "f"(x)); s[2] = si;
  asm("cvt.s32.s8 %0, %1;" : "=r"(si) : "r"(s[0])); s[3] = si;
  asm("abs.s32 %0, %1;" : "=r"(si) : "r"(s[0])); s[4] = si;
  asm("rem.s32 %0, %1, %2;" : "=r"(si) : "r"(s[0]), "r"(s[5])); s[6] = si;
  asm("div.u32 %0, %1, %2;" : "=r"(si) : "r"(s[0]), "r"(s[5])); s[7] = si;
  asm("popc.b64 %0, %1;" : "=r"(si) : "l"(w[0])); s[8] = si;
  asm("clz.b64 %0, %1;" : "=r"(si) : "l"(w[0])); s[9] = si;
  asm("dp2a.hi.s32.u32 %0, %1, %2, %3;" : "=r"(si) : "r"(s[0]), "r"(a), "r"(s[1])); s[10] = si;
  asm("{ .reg .pred p; vote.sync.uni.pred p, 1, 0xffffffff; selp.s32 %0, 1, 0, p; }" : "=r"(si)); s[11] = si;
  asm("{ .reg .pred p; setp.ne.s32 p, %1, 0; bar.red.popc.u32 %0, 0, p; }" : "=r"(si) : "r"(s[0])); s[12] = si;
  asm("bar.arrive 1, 64;");
  asm("barrier.sync 2;");
  asm("membar.gl; fence.acq_rel.gpu; fence.sc.cta;");
  asm("prefetch.global.L2 [%0];" :: "l"(u));
  int ld;
  asm volatile("ld.relaxed.gpu.global.s32 %0, [%1];" : "=r"(ld) : "l"(s)); s[13] = ld;
  asm volatile("ld.acquire.sys.global.s32 %0, [%1];" : "=r"(ld) : "l"(s)); s[14] = ld;
  asm volatile("st.release.cta.global.s32 [%0], %1;" :: "l"(s + 15), "r"(ld));
  asm volatile("red.relaxed.gpu.global.add.u32 [%0], 1;" :: "l"(u + 30));
  asm volatile("atom.acq_rel.sys.global.inc.u32 %0, [%1], 9;" : "=r"(r) : "l"(u + 31)); u[32] = r;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(lo), "=r"(hi), "=r"(a), "=r"(b) : "l"(u)); u[33] = lo + hi + a + b;
  asm volatile("ldu.global.u32 %0, [%1];" : "=r"(r) : "l"(u)); u[34] = r;
  asm volatile("st.global.v2.f32 [%0], {%1, %2};" :: "l"(f + 22), "f"(x), "f"(y));
  asm volatile("mov.b64 %0, {%1, %2};" : "=l"(wide) : "r"(lo), "r"(hi)); w[6] = wide;
  asm volatile("mov.b64 {%0, %1}, %2;" : "=r"(lo), "=r"(hi) : "l"(w[7])); u[35] = lo - hi;
  asm volatile("mov.u32 %0, %%envreg3;" : "=r"(r)); u[36] = r;
  asm volatile("mov.u32 %0, %%nsmid;" : "=r"(r)); u[37] = r;
  asm volatile("mov.u32 %0, %%nwarpid;" : "=r"(r)); u[38] = r;
  asm volatile("mov.u64 %0, %%gridid;" : "=l"(wide)); w[8] = wide;
  asm volatile("mov.u32 %0, %%pm0;" : "=r"(r)); u[39] = r;
  // a jump table: nvcc 13 lowers switch statements to branch trees, so brx.idx comes from here
  asm volatile("{\n"
               "tab%=: .branchtargets L0_%=, L1_%=, L2_%=;\n"
               "brx.idx %1, tab%=;\n"
               "L0_%=: mov.u32 %0, 10; bra.uni E_%=;\n"
               "L1_%=: mov.u32 %0, 20; bra.uni E_%=;\n"
               "L2_%=: mov.u32 %0, 30;\n"
               "E_%=:\n"
               "}" : "=r"(r) : "r"(a % 3u)); u[40] = r;
  asm volatile("{ .reg .pred p; elect.sync %0|p, 0xffffffff; }" : "=r"(r)); u[41] = r;
}
