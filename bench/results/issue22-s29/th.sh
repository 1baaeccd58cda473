#!/bin/bash
out=$1; rounds=$2; shift 2
for r in $(seq 1 $rounds); do for v in "$@"; do name=${v%%=*}; dir=${v#*=}; mkdir -p $out/$name
 ( cd $dir; PYTHONPATH=$dir/src:$dir /work/main/.venv/bin/python -m bench.tracking_http --results $out/$name > $out/$name/log-$r.txt 2>&1 ); echo "$(date +%T) round $r $name rc=$?"; done; done
