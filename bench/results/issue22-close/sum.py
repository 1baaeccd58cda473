import json, sys, glob, os
for d in sys.argv[1:]:
    for name in sorted(os.listdir(d)):
        rows=[]
        for f in sorted(glob.glob(f"{d}/{name}/*.json")):
            j=json.load(open(f)); r=[x for x in j['runs'] if x['phase']=='max'][0]; c=r['cpu_s_per_1k']
            if not r["deliveries_per_s"]: continue
            rows.append((r["deliveries_per_s"], c['api'], c['worker'], c['postgres'], r['system_and_db_cpu_ms_per_delivery'], r['machine_busy_pct'], j.get('busy_before_pct')))
        for x in rows: print(f"{name:12s} {x[0]:7.0f}/s api {x[1]:.3f} worker {x[2]:.3f} pg {x[3]:.3f} total {x[4]:.3f} busy {x[5]:.0f} before {x[6]}")
        if rows:
            import statistics as s
            print(f"{name:12s} MEAN {s.mean(x[0] for x in rows):7.0f}/s api {s.mean(x[1] for x in rows):.3f} worker {s.mean(x[2] for x in rows):.3f} pg {s.mean(x[3] for x in rows):.3f} total {s.mean(x[4] for x in rows):.3f}")
