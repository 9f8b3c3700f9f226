#!/usr/bin/env python3
# Blockify scaling reproducer: N vote.ballot.sync in straight-line code.
# bench/blockify_collectives.py N > /tmp/b.ptx && time build/tools/cuvirt-ptx --emit block-ir /tmp/b.ptx >/dev/null
# (CUB's radix-sort onesweep kernel has ~550 warp collectives.)
import sys
n = int(sys.argv[1])
print(f""".version 8.0
.target sm_75
.address_size 64
.visible .entry many_ballots(.param .u64 out)
{{
.reg .pred %p<3>;
.reg .b32 %r<{2*n+10}>;
.reg .b64 %rd<4>;
ld.param.u64 %rd1, [out];
cvta.to.global.u64 %rd2, %rd1;
mov.u32 %r1, %tid.x;
mov.u32 %r2, 0;""")
prev = '%r2'
for i in range(n):
    a, b = f'%r{3+2*i}', f'%r{4+2*i}'
    print(f"and.b32 {a}, %r1, {1<<(i%5)};\nsetp.ne.u32 %p1, {a}, 0;\nvote.sync.ballot.b32 {b}, %p1, -1;\nadd.u32 {a}, {prev}, {b};")
    prev = a
print(f"mul.wide.u32 %rd3, %r1, 4;\nadd.s64 %rd3, %rd2, %rd3;\nst.global.u32 [%rd3], {prev};\nret;\n}}")
