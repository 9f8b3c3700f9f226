# Experiment (not part of cuvirt): rewrites the JIT's block IR so that each
# "%Y = inttoptr i64 %X to ptr", where %X is an add chain on a pointer kernel
# parameter %P, becomes "getelementptr i8, ptr inttoptr(%P), i64 (%X - %P)".
# SCEV then sees base pointer + affine offset and the loop vectoriser emits
# contiguous loads/stores instead of gathers/scatters.
#   python3 rebase.py in.ll out.ll
import re, sys

s = open(sys.argv[1]).read()
params = set(re.findall(r'  (%\d+) = load i64, ptr %\S+, align 8, .*cuvirt.param', s))
adds = {m[1]: (m[2], m[3]) for m in re.finditer(r'  (%[\w.]+) = add (?:nuw |nsw )*i64 (%[\w.]+), (%[\w.]+)', s)}

def base(v, depth=0):
    if v in params:
        return v
    if depth > 8 or v not in adds:
        return None
    return next((b for b in (base(o, depth + 1) for o in adds[v]) if b), None)

count = 0
def rebase(m):
    global count
    y, x = m[1], m[2]
    b = base(x)
    if not b:
        return m[0]
    count += 1
    t = y[1:] + 'r'
    return (f'  %bp{t} = inttoptr i64 {b} to ptr\n  %off{t} = sub i64 {x}, {b}\n'
            f'  {y} = getelementptr i8, ptr %bp{t}, i64 %off{t}\n')

s = re.sub(r'  (%[\w.]+) = inttoptr i64 (%[\w.]+) to ptr\n', rebase, s)
print(f'{sys.argv[1]}: {count} addresses rebased')
open(sys.argv[2], 'w').write(s)
