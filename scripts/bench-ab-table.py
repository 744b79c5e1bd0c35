#!/usr/bin/env python3
"""Tables from scripts/bench-ab.sh output: per figure, the median (min-max)
of the before and after runs and the median of the per-pair ratios."""
import re,statistics,glob
import sys
D=sys.argv[1] if len(sys.argv) > 1 else 'bench-ab'
def ns(v,u):
    v=float(v); return v*{'ns':1,'µs':1e3,'ms':1e6,'s':1e9}[u]
def parse_store(t):
    r={}
    puts=re.findall(r"^\s+put\s+([\d.]+) (ns|µs)\s+([\d.]+) (ns|µs)\s+([\d.]+) (ns|µs)",t,re.M)
    r['put p50, 10k pending (ns)']=ns(*puts[0][0:2]); r['put p50, 50k pending (ns)']=ns(*puts[1][0:2])
    r['put p99, 10k pending (ns)']=ns(*puts[0][2:4]); r['put p99.9, 10k pending (ns)']=ns(*puts[0][4:6])
    m=re.search(r"backburner, 1 producer\s+([\d.]+) (k|M)/s",t); r['backburner rows/s (k)']=float(m.group(1))*(1000 if m.group(2)=='M' else 1)
    m=re.search(r"hand-batched txns \(ceiling\)\s+([\d.]+) (k|M)/s",t); r['ceiling rows/s (k)']=float(m.group(1))*(1000 if m.group(2)=='M' else 1)
    r['backburner / ceiling']=float(re.search(r"backburner / ceiling:\s+([\d.]+)",t).group(1))
    return r
def parse_journal(t):
    r={}
    r['EveryBatch / Memory']=float(re.search(r"EveryBatch / Memory: ([\d.]+)",t).group(1))
    m=re.search(r"^\s+Memory\s+([\d.]+) (k|M)/s",t,re.M); r['Memory rows/s (k)']=float(m.group(1))*(1000 if m.group(2)=='M' else 1)
    m=re.search(r"Journal \{ EveryBatch \}\s+([\d.]+) (k|M)/s",t); r['EveryBatch rows/s (k)']=float(m.group(1))*(1000 if m.group(2)=='M' else 1)
    return r
def parse_log(t):
    r={}
    f=re.findall(r"own macro p50 - timer floor: (\d+) ns",t); r['log call p50 above floor, 1 thread (ns)']=float(f[0])
    q=re.findall(r"own macro lines/s / BufWriter lines/s: ([\d.]+)",t)
    r['lines/s / BufWriter, 1 thread']=float(q[0]); r['lines/s / BufWriter, 2 threads']=float(q[1])
    return r
def parse_waiters(t):
    r={}
    rows=re.findall(r"^\s+(\d+)\s+([\d.]+) µs \(.*?\)\s+([\d.]+) µs \(.*?\)\s+([\d.]+)$",t,re.M)
    for n,w,f,ratio in rows:
        r[f'per batch, {int(n)//1000}k waiting (µs)']=float(w)
    reg=re.findall(r"^\s+(\d+)\s+([\d.]+) µs \([\d.]+–[\d.]+\)$",t,re.M)
    for n,v in reg:
        r[f'per task to start waiting, {int(n)//1000}k (µs)']=float(v)
    return r
P={'store':parse_store,'journal':parse_journal,'log':parse_log,'waiters':parse_waiters}
for b,f in P.items():
    runs=sorted(glob.glob(f"{D}/{b}.before.*.txt"),key=lambda p:int(p.split('.')[-2]))
    n=len(runs)
    if n == 0:
        continue
    bef=[f(open(f"{D}/{b}.before.{i}.txt").read()) for i in range(1,n+1)]
    aft=[f(open(f"{D}/{b}.after.{i}.txt").read()) for i in range(1,n+1)]
    print(f"\n{b} ({n} interleaved pairs)")
    print(f"| figure | before: median (min–max) | after: median (min–max) | after/before (median of per-pair ratios) |")
    print("|---|---|---|---|")
    for k in bef[0]:
        xb=[x[k] for x in bef]; xa=[x[k] for x in aft]
        rat=[a/bb if bb else float('nan') for a,bb in zip(xa,xb)]
        fmt=lambda v: f"{v:.2f}" if v<10 else f"{v:.0f}"
        print(f"| {k} | {fmt(statistics.median(xb))} ({fmt(min(xb))}–{fmt(max(xb))}) | {fmt(statistics.median(xa))} ({fmt(min(xa))}–{fmt(max(xa))}) | {statistics.median(rat):.2f} |")
